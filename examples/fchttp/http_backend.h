/* SPDX-License-Identifier: MIT */
/*
 * http_backend.h - a libfaultcache backend that serves a remote file by
 * HTTP/1.1 range requests (one keep-alive connection per worker thread).
 * fc_map_backend(cache, &fc_http_ops, fc_http_open(url, ...), ...) maps it.
 */
#ifndef FC_HTTP_BACKEND_H
#define FC_HTTP_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <faultcache.h>

struct fc_http;

/*
 * Connect to @url ("http://host[:port]/path"), learn the size with HEAD
 * and check the server takes byte ranges. @workers reads run in parallel.
 * NULL on failure with a reason in @err.
 */
struct fc_http *fc_http_open(const char *url, unsigned workers, char *err,
			     size_t errlen);
/* Size of the remote file in bytes. */
uint64_t fc_http_size(const struct fc_http *h);
/* Requests sent and bytes received so far. */
void fc_http_counters(struct fc_http *h, uint64_t *requests, uint64_t *bytes);
/* Free a backend that was never mapped (a mapped one is freed by release). */
void fc_http_close(struct fc_http *h);

extern const struct fc_backend_ops fc_http_ops;

#endif
