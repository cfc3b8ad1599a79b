/* SPDX-License-Identifier: MIT */
/* sigbus.h - the process's SIGBUS handler for inline faults (sigbus.c). */
#ifndef FC_SIGBUS_H
#define FC_SIGBUS_H

int fc__sigbus_install(void);
void fc__sigbus_hold(void);
void fc__sigbus_release(void);
void fc__sigbus_fork_prepare(void);
void fc__sigbus_fork_parent(void);
void fc__sigbus_fork_child(void);

#endif
