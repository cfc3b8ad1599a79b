// The public header compiles as C++ and links without extern "C" games.
#include <faultcache.h>
#include <cstdio>

int main()
{
	fc_config cfg;
	fc_config_init(&cfg);
	cfg.cache_bytes = 64u << 20;
	fc_cache *c = fc_cache_create(&cfg);
	if (!c) {
		std::perror("fc_cache_create");
		return 1;
	}
	fc_stats st;
	int ret = fc_cache_stats(c, &st);
	fc_cache_destroy(c);
	std::printf("C++ consumer: budget %llu bytes\n",
		    (unsigned long long)st.budget_bytes);
	return ret;
}
