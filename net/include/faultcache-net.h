/* SPDX-License-Identifier: MIT */
/*
 * libfaultcache-net: map objects on HTTP(S) servers and S3-compatible
 * object stores with libfaultcache, through libcurl.
 *
 * fc_net_open() opens one remote object (http://, https:// or
 * s3://bucket/key), learns its size and version (HEAD) and starts the
 * object's transfer thread; fc_net_map() maps a range of it into a
 * libfaultcache cache like fc_map() maps a file: pages are fetched by
 * ranged GETs when first touched, with the cache's readahead and budget.
 * See fc_net_open(3).
 */
#ifndef FAULTCACHE_NET_H
#define FAULTCACHE_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <faultcache.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FC_NET_BUILDING_LIBRARY)
#define FC_NET_EXPORT __attribute__((visibility("default")))
#else
#define FC_NET_EXPORT
#endif

#define FC_NET_VERSION_MAJOR 0
#define FC_NET_VERSION_MINOR 1
#define FC_NET_VERSION_PATCH 0
#define FC_NET_VERSION_NUMBER \
	(FC_NET_VERSION_MAJOR * 10000 + FC_NET_VERSION_MINOR * 100 + \
	 FC_NET_VERSION_PATCH)

/* Version of the library actually loaded, as FC_NET_VERSION_NUMBER / string. */
FC_NET_EXPORT unsigned fc_net_version(void);
FC_NET_EXPORT const char *fc_net_version_string(void);

/* fc_net_config.flags; names follow curl's and the AWS CLI's options. */
#define FC_NET_INSECURE		(1u << 0) /* curl -k: no certificate check */
#define FC_NET_HTTP1_1		(1u << 1) /* curl --http1.1: never HTTP/2 */
#define FC_NET_HTTP2_PRIOR	(1u << 2) /* curl --http2-prior-knowledge
					     (HTTP/2 without TLS) */
#define FC_NET_NO_SIGN		(1u << 3) /* aws --no-sign-request: s3://
					     requests go unsigned */
#define FC_NET_VERBOSE		(1u << 4) /* curl -v: libcurl's trace on
					     stderr */

/*
 * Options of one object. Always fill it with fc_net_config_init() first:
 * the struct records its own size so that fields can be added. NULL
 * strings and 0 numbers mean the default, which the environment may set
 * as for curl and the AWS CLI (fc_net_open(3), ENVIRONMENT).
 */
struct fc_net_config {
	size_t size;		/* sizeof(struct fc_net_config) */
	const char *cacert;	/* CA bundle, PEM (curl --cacert) */
	const char *capath;	/* CA directory (curl --capath) */
	unsigned connect_timeout_ms; /* curl --connect-timeout; 10 s */
	unsigned stall_timeout_ms;   /* a transfer that receives nothing for
					this long fails; 30 s */
	unsigned retries;	/* retries of a request that failed with
				   5xx, 429 or a broken connection; 4 */
	unsigned retry_delay_ms; /* first backoff, doubled per retry; 100 */
	unsigned retry_max_delay_ms; /* backoff cap, and Retry-After's; 5 s */
	unsigned max_connections; /* connections to the host at once; 8 */
	size_t max_request;	/* largest request adjacent reads are merged
				   into, bytes; 16 MiB */
	unsigned flags;		/* FC_NET_* */
	const char *region;	/* s3: aws --region */
	const char *endpoint_url; /* s3: aws --endpoint-url (path-style) */
	const char *profile;	/* s3: aws --profile */
};

FC_NET_EXPORT void fc_net_config_init(struct fc_net_config *cfg);

/*
 * Why a request failed, for messages: fc_net_open()'s, or the read that
 * covered an offset (fc_net_error_at()).
 */
struct fc_net_error {
	uint64_t offset;	/* the failed request's range; 0 for open */
	uint64_t length;
	int err;		/* errno the read completed with */
	long http_status;	/* the last response's status, 0 if none */
	int curl_code;		/* libcurl's CURLcode, 0 if none */
	unsigned attempts;	/* requests made, retries included */
	char message[256];	/* one line, e.g. "HTTP 403 Forbidden
				   (SignatureDoesNotMatch: ...)" */
};

struct fc_net;

/*
 * Open the object at @url: http://, https:// or s3://bucket/key. Learns
 * its size, ETag and Last-Modified with a HEAD (every later read must see
 * the same ones) and starts its transfer thread. @cfg NULL: defaults.
 * Returns the object, or NULL with errno set and, if @err is not NULL, the
 * reason in *@err.
 */
FC_NET_EXPORT struct fc_net *fc_net_open(const char *url,
					 const struct fc_net_config *cfg,
					 struct fc_net_error *err);
/* Drop the caller's reference; mappings keep their own. NULL: no-op. */
FC_NET_EXPORT void fc_net_close(struct fc_net *net);
/* The object's size in bytes, as the HEAD of fc_net_open() found it. */
FC_NET_EXPORT uint64_t fc_net_size(const struct fc_net *net);

/*
 * Map @length bytes of the object from @offset (a multiple of the system
 * page size; @length 0: to the end) into @cache (NULL: the default cache),
 * as fc_map_backend(). The mapping holds a reference on @net until it is
 * unmapped. @flags must be 0. NULL with errno set on failure.
 */
FC_NET_EXPORT void *fc_net_map(struct fc_cache *cache, struct fc_net *net,
			       off_t offset, size_t length, int flags);

/*
 * The failure of the last failed read that covered @offset (or, when
 * none did, the last failure), into *@out. Returns 0, or -ENOENT when no
 * read has failed.
 */
FC_NET_EXPORT int fc_net_error_at(struct fc_net *net, uint64_t offset,
				  struct fc_net_error *out);

struct fc_net_stats {
	uint64_t reads;		/* reads the cache asked for */
	uint64_t requests;	/* HTTP requests made (HEAD, retries incl.) */
	uint64_t merged;	/* reads that shared a request with another */
	uint64_t bytes;		/* body bytes received for reads */
	uint64_t retries;	/* requests repeated after a retryable error */
	uint64_t errors;	/* reads completed with an error */
	uint64_t connections;	/* connections opened */
	uint64_t inflight;	/* requests on the wire now */
	uint64_t ttfb_ns_sum;	/* first-byte latency of GETs: sum, */
	uint64_t ttfb_ns_max;	/* and max, over */
	uint64_t ttfb_count;	/* this many */
	long http_version;	/* of the last response: 10, 11, 20 */
};

/* Snapshot the counters of @net. 0 or -errno. */
FC_NET_EXPORT int fc_net_stats(struct fc_net *net, struct fc_net_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* FAULTCACHE_NET_H */
