/* SPDX-License-Identifier: MIT */
/* config.h - a cache's configuration: defaults, checks, environment. */
#ifndef FC_CONFIG_H
#define FC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "faultcache.h"

int fc__config_check(const struct fc_config *in, struct fc_config *out,
		     size_t sys_page);
int fc__config_from_env(struct fc_config *cfg);
bool fc__parse_size(const char *s, size_t *out);
bool fc__parse_count(const char *s, unsigned min, unsigned *out);
bool fc__parse_flag(const char *s, bool *on);

#endif
