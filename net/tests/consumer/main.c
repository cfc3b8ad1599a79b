/*
 * Built against the installed libfaultcache-net: opening a URL that
 * cannot be had fails cleanly with a message (no server is needed).
 */
#include <errno.h>
#include <faultcache-net.h>
#include <stdio.h>

int main(void)
{
	struct fc_net_error err;
	struct fc_net_config cfg;
	struct fc_net *n;

	fc_net_config_init(&cfg);
	n = fc_net_open("ftp://127.0.0.1/x", &cfg, &err);
	if (n || errno != EINVAL || !err.message[0])
		return 1;
	printf("libfaultcache-net %s: %s\n", fc_net_version_string(),
	       err.message);
	return fc_net_version() == FC_NET_VERSION_NUMBER ? 0 : 2;
}
