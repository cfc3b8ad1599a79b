/* The README's example, built against the installed library. */
#include <faultcache.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/etc/os-release";
	int fd = open(path, O_RDONLY);
	const char *p = fc_map(NULL, fd, 0, 0, 0); /* whole file, default cache */
	struct fc_stats st;
	char buf[16];

	if (!p) {
		perror("fc_map");
		return 1;
	}
	if (pread(fd, buf, sizeof(buf), 0) != sizeof(buf) ||
	    memcmp(buf, p, sizeof(buf)))
		return 2;
	close(fd);	/* the mapping keeps its own reference */
	fc_cache_stats(NULL, &st);
	printf("libfaultcache %s: %llu fault(s), first bytes match\n",
	       fc_version_string(), (unsigned long long)st.faults);
	return fc_unmap((void *)p) ? 3 : 0;
}
