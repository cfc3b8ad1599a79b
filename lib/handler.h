/* SPDX-License-Identifier: MIT */
/* handler.h - the fault handler threads (handler.c). */
#ifndef FC_HANDLER_H
#define FC_HANDLER_H

#include "types.h"

int fc__handler_init(struct fc_cache *c, struct fc_handler *h);
void fc__handlers_destroy(struct fc_cache *c);
int fc__handler_post(struct fc_handler *h, struct fc_cmd *cmd);

void fc__handlers_settle(struct fc_cache *c);

#endif
