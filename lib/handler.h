/* SPDX-License-Identifier: MIT */
/* handler.h - the fault handler threads (fault.c, to be handler.c). */
#ifndef FC_HANDLER_H
#define FC_HANDLER_H

#include "types.h"

void *fc__handler_main(void *arg);
int fc__handler_post(struct fc_handler *h, struct fc_cmd *cmd);

#endif
