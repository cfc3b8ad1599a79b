/* SPDX-License-Identifier: MIT */
/*
 * test_net_unit: what libfaultcache-net decides without a server: the
 * response checks (Content-Range, validators, status), the S3 URL and
 * credentials helpers, and fc_net_open()'s errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include <faultcache-net.h>
#include "parse.h"

static void feed(struct fc__net_resp *r, const char *lines)
{
	const char *p = lines;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);

		fc__net_header(r, p, n);
		p += n;
	}
}

static void test_content_range(void **state)
{
	uint64_t a, b, t;
	bool known;

	(void)state;
	assert_int_equal(fc__net_parse_content_range("bytes 0-99/100", 14, &a,
						     &b, &t, &known), 0);
	assert_true(a == 0 && b == 99 && t == 100 && known);
	assert_int_equal(fc__net_parse_content_range(" bytes 5-5/*", 12, &a,
						     &b, &t, &known), 0);
	assert_true(a == 5 && b == 5 && !known);
	/* malformed or inconsistent */
	static const char *bad[] = {
		"bytes 9-5/100", "bytes 0-100/100", "bytes */100", "byte 0-1/2",
		"bytes 0-1", "bytes -1-2/3", "bytes 0-1/2x",
		"bytes 0-18446744073709551616/1", "bytes 1-2/3 4", "bytes0-1/2",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(fc__net_parse_content_range(bad[i],
				 strlen(bad[i]), &a, &b, &t, &known), -EINVAL);
}

static void test_check(void **state)
{
	struct fc__net_ident id = { .etag = "\"abc\"",
		.last_modified = "Mon, 01 Jan 2001 00:00:00 GMT",
		.size = 1000 };
	struct fc__net_resp r;
	char why[200];

	(void)state;
	memset(&r, 0, sizeof(r));
	feed(&r, "HTTP/1.1 206 Partial Content\r\nETag: \"abc\"\r\n"
		 "Content-Range: bytes 100-199/1000\r\nContent-Length: 100\r\n");
	assert_int_equal(fc__net_check(&r, 100, 200, &id, why, sizeof(why)), 0);
	/* another range, another size, another ETag: refused */
	assert_int_equal(fc__net_check(&r, 100, 300, &id, why, sizeof(why)),
			 -EPROTO);
	id.size = 2000;
	assert_int_equal(fc__net_check(&r, 100, 200, &id, why, sizeof(why)),
			 -ESTALE);
	assert_non_null(strstr(why, "changed"));
	id.size = 1000;
	feed(&r, "HTTP/2 206\r\netag: \"abd\"\r\ncontent-range: bytes 100-199/1000\r\n");
	assert_int_equal(fc__net_check(&r, 100, 200, &id, why, sizeof(why)),
			 -ESTALE);
	/* a redirect's headers do not count: the status line resets */
	feed(&r, "HTTP/1.1 302 Found\r\nETag: \"zzz\"\r\n"
		 "HTTP/1.1 206 Partial Content\r\nETag: \"abc\"\r\n"
		 "Content-Range: bytes 0-999/1000\r\n");
	assert_int_equal(fc__net_check(&r, 0, 1000, &id, why, sizeof(why)), 0);
	/* 200: only for the whole object */
	feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n");
	assert_int_equal(fc__net_check(&r, 0, 1000, &id, why, sizeof(why)), 0);
	assert_int_equal(fc__net_check(&r, 0, 999, &id, why, sizeof(why)),
			 -EPROTO);
	assert_non_null(strstr(why, "ignored the range"));
	/* statuses */
	feed(&r, "HTTP/1.1 412 Precondition Failed\r\n");
	assert_int_equal(fc__net_check(&r, 0, 10, &id, why, sizeof(why)),
			 -ESTALE);
	feed(&r, "HTTP/1.1 404 Not Found\r\n");
	assert_int_equal(fc__net_check(&r, 0, 10, &id, why, sizeof(why)),
			 -ENOENT);
	assert_string_equal(why, "HTTP 404 Not Found");
	feed(&r, "HTTP/2 403\r\n");
	assert_int_equal(fc__net_check(&r, 0, 10, &id, why, sizeof(why)),
			 -EACCES);
	assert_string_equal(why, "HTTP 403 Forbidden");
	feed(&r, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes x\r\n");
	assert_int_equal(fc__net_check(&r, 0, 10, &id, why, sizeof(why)),
			 -EPROTO);
	assert_true(fc__net_status_retryable(503));
	assert_true(fc__net_status_retryable(429));
	assert_false(fc__net_status_retryable(404));
	assert_false(fc__net_status_retryable(412));
	feed(&r, "HTTP/1.1 503 Slow Down\r\nRetry-After: 7\r\n");
	assert_int_equal(r.retry_after, 7);
	assert_true(fc__net_etag_strong("\"x\""));
	assert_false(fc__net_etag_strong("W/\"x\""));
}

static void test_xml_error(void **state)
{
	const char *b = "<?xml?><Error><Code>SignatureDoesNotMatch</Code>"
			"<Message>bad\nsig</Message></Error>";
	char out[64];

	(void)state;
	fc__net_xml_error(b, strlen(b), out, sizeof(out));
	assert_string_equal(out, "SignatureDoesNotMatch: bad sig");
	fc__net_xml_error("<Code>x", 7, out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_s3(void **state)
{
	char bucket[64], key[256], url[512];
	const char *ini = "# c\n[default]\naws_access_key_id = AK\n"
			  "[profile p]\r\nregion= eu-west-3 \r\n[x]\nk=v\n";

	(void)state;
	assert_int_equal(fc__s3_split("s3://bkt/a/b c", bucket, sizeof(bucket),
				      key, sizeof(key)), 0);
	assert_string_equal(bucket, "bkt");
	assert_string_equal(key, "a/b c");
	assert_int_equal(fc__s3_split("s3://bkt/", bucket, sizeof(bucket), key,
				      sizeof(key)), -EINVAL);
	assert_int_equal(fc__s3_split("s3:///k", bucket, sizeof(bucket), key,
				      sizeof(key)), -EINVAL);
	assert_int_equal(fc__s3_http_url("bkt", "a/b c+~", "http://h:1/",
					 "us-east-1", url, sizeof(url)), 0);
	assert_string_equal(url, "http://h:1/bkt/a/b%20c%2B~");
	assert_int_equal(fc__s3_http_url("bkt", "k", NULL, "eu-west-3", url,
					 sizeof(url)), 0);
	assert_string_equal(url, "https://bkt.s3.eu-west-3.amazonaws.com/k");
	assert_int_equal(fc__s3_http_url("b.k", "k", NULL, "eu-west-3", url,
					 sizeof(url)), 0);
	assert_string_equal(url, "https://s3.eu-west-3.amazonaws.com/b.k/k");
	assert_int_equal(fc__ini_get(ini, strlen(ini), "default",
				     "aws_access_key_id", key, sizeof(key)), 0);
	assert_string_equal(key, "AK");
	assert_int_equal(fc__ini_get(ini, strlen(ini), "profile p", "region",
				     key, sizeof(key)), 0);
	assert_string_equal(key, "eu-west-3");
	assert_int_equal(fc__ini_get(ini, strlen(ini), "default", "region",
				     key, sizeof(key)), -ENOENT);
	assert_int_equal(fc__ini_get(ini, strlen(ini), "x", "k", key, 1),
			 -ENAMETOOLONG);
}

static void test_version(void **state)
{
	(void)state;
	assert_int_equal(fc_net_version(), FC_NET_VERSION_NUMBER);
	assert_string_equal(fc_net_version_string(), FC_NET_EXPECTED_VERSION);
	char v[32];
	snprintf(v, sizeof(v), "%d.%d.%d", FC_NET_VERSION_MAJOR,
		 FC_NET_VERSION_MINOR, FC_NET_VERSION_PATCH);
	assert_string_equal(v, FC_NET_EXPECTED_VERSION);
}

/* A loopback port that refuses connections: bound, never listened on. */
static int closed_port(int *fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*fd >= 0);
	assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &l), 0);
	return ntohs(a.sin_port);
}

static void test_open_errors(void **state)
{
	struct fc_net_error e;
	struct fc_net_config c;
	char url[128];
	int fd;

	(void)state;
	assert_null(fc_net_open("ftp://127.0.0.1/x", NULL, &e));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(e.message, "not an http"));
	assert_null(fc_net_open("s3://bucket-only", NULL, &e));
	assert_int_equal(errno, EINVAL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", closed_port(&fd));
	fc_net_config_init(&c);
	assert_null(fc_net_open(url, &c, &e));
	assert_int_equal(errno, ECONNREFUSED);
	assert_int_equal(e.err, ECONNREFUSED);
	assert_int_equal(e.curl_code, 7);
	assert_int_equal(e.attempts, 1);	/* refused: not retried */
	/* s3 without any credentials */
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	c.endpoint_url = url;
	assert_null(fc_net_open("s3://bkt/key", &c, &e));
	assert_int_equal(errno, EACCES);
	assert_non_null(strstr(e.message, "no credentials"));
	close(fd);
	fc_net_close(NULL);
	assert_null(fc_net_map(NULL, NULL, 0, 0, 0));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_range),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_xml_error),
		cmocka_unit_test(test_s3),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
