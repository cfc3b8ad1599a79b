// The header compiles as C++ and links from C++.
#include <faultcache-net.h>
#include <cstdio>

int main()
{
	struct fc_net_config cfg;

	fc_net_config_init(&cfg);
	std::printf("libfaultcache-net %s from C++\n", fc_net_version_string());
	return fc_net_version() == FC_NET_VERSION_NUMBER ? 0 : 1;
}
