# servers.sh - sourced by the network tests: start and stop real servers
# on 127.0.0.1, in the test's own directory. Nothing machine-wide: each
# server is a process of the test, with a configuration written here, on
# ports that were free, and is stopped by net_stop_all (the tests' EXIT
# trap).
#
#   nginx_start DIR [EXTRA_HTTP_CONF]  -> $NGINX_PORT (HTTP/1.1),
#       $NGINX_H2C_PORT (HTTP/2 without TLS), $NGINX_TLS_PORT (HTTPS,
#       HTTP/2 by ALPN), $NGINX_CA (the certificate to verify it with);
#       serves DIR/www
#   nginx_stop DIR
#   s3_start DIR NODE_MODULES SECRET -> $S3_PORT; bucket "bkt", key id
#       "S3RVER" (with $S3_PORT set: that port, for a restart)
# $NET_SRC must name this directory.
#   s3_stop DIR
#   net_stop_all

net_skip() { echo "SKIP: $*" >&2; exit 77; }

# A port nobody listens on now, 20000-59999 (a bind failure retries).
net_port() {
	echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
}

# The certificate of "localhost" and 127.0.0.1, made once per directory.
net_cert() {
	[ -f "$1/cert.pem" ] && return 0
	command -v openssl >/dev/null || net_skip "openssl not installed (tools/deps.sh)"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1
}

nginx_conf() {	# DIR EXTRA
	d=$1
	user=""
	[ "$(id -u)" -eq 0 ] && user="user root root;"
	cat > "$d/nginx.conf" <<EOC
daemon off;
worker_processes 1;
# a reload closes the old worker's connections at once (test_net_http's
# stall ends so)
worker_shutdown_timeout 100ms;
$user
pid $d/nginx.pid;
error_log $d/nginx-error.log warn;
events { worker_connections 512; }
http {
	access_log $d/nginx-access.log;
	client_body_temp_path $d/ngx-tmp/body;
	proxy_temp_path $d/ngx-tmp/proxy;
	fastcgi_temp_path $d/ngx-tmp/fastcgi;
	uwsgi_temp_path $d/ngx-tmp/uwsgi;
	scgi_temp_path $d/ngx-tmp/scgi;
	default_type application/octet-stream;
	sendfile on;
	keepalive_requests 100000;
	open_file_cache off;
	$2
	server {
		listen 127.0.0.1:$NGINX_PORT;
		listen 127.0.0.1:$NGINX_H2C_PORT http2;
		listen 127.0.0.1:$NGINX_TLS_PORT ssl http2;
		ssl_certificate $d/cert.pem;
		ssl_certificate_key $d/key.pem;
		root $d/www;
		include $d/nginx-locations.conf;
	}
}
EOC
	[ -f "$d/nginx-locations.conf" ] || : > "$d/nginx-locations.conf"
}

nginx_start() {	# DIR [EXTRA_HTTP_CONF]
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] ||
		net_skip "nginx not installed (tools/deps.sh installs it)"
	ngx=$(command -v nginx || echo /usr/sbin/nginx)
	net_cert "$1"
	mkdir -p "$1/ngx-tmp" "$1/www"
	tries=0
	while :; do
		NGINX_PORT=$(net_port); NGINX_H2C_PORT=$(net_port)
		NGINX_TLS_PORT=$(net_port)
		nginx_conf "$1" "${2:-}"
		: > "$1/nginx-error.log"
		"$ngx" -c "$1/nginx.conf" -p "$1" &
		echo $! > "$1/nginx.master"
		i=0
		while [ $i -lt 200 ]; do
			if ! kill -0 "$(cat "$1/nginx.master")" 2>/dev/null; then
				break
			fi
			# ready once the pid file is written and the port answers
			if [ -s "$1/nginx.pid" ] && curl -s -o /dev/null \
			   "http://127.0.0.1:$NGINX_PORT/"; then
				NGINX_CA=$1/cert.pem
				return 0
			fi
			i=$((i + 1)); sleep 0.05
		done
		nginx_stop "$1"
		tries=$((tries + 1))
		if [ $tries -ge 5 ] || ! grep -q "in use" "$1/nginx-error.log"; then
			echo "nginx did not start:" >&2
			cat "$1/nginx-error.log" >&2
			return 1
		fi
	done
}

# The child processes of PID, from /proc (no procps needed).
net_children() {	# PID
	for s in /proc/[0-9]*/stat; do
		read -r cpid comm state ppid rest 2>/dev/null < "$s" || continue
		[ "$ppid" = "$1" ] && echo "$cpid"
	done
	:
}

nginx_stop() {	# DIR: fast shutdown (TERM), connections cut
	[ -f "$1/nginx.master" ] || return 0
	p=$(cat "$1/nginx.master")
	kill -TERM "$p" 2>/dev/null || true
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 200 ]; do
		i=$((i + 1)); sleep 0.05
	done
	# a master killed leaves its workers serving: they go with it
	if kill -0 "$p" 2>/dev/null; then
		echo "nginx did not stop in 10 s: killed" >&2
		kids=$(net_children "$p")
		kill -KILL $kids "$p" 2>/dev/null || true
	fi
	rm -f "$1/nginx.master" "$1/nginx.pid"
}

# The S3 server: @20minutes/s3rver (SigV4 checked), npm-installed into
# the build tree by the s3server_install test fixture.
s3_start() {	# DIR NODE_MODULES SECRET
	[ -d "$2/@20minutes/s3rver" ] ||
		net_skip "the S3 server is not installed (npm install failed: see the s3server_install test)"
	mkdir -p "$1/s3data"
	NODE_PATH=$2 node "$NET_SRC/s3server.js" \
		"$1/s3data" "$3" ${S3_PORT:-0} > "$1/s3.port" 2> "$1/s3.log" &
	echo $! > "$1/s3.pid"
	i=0
	while ! grep -q '^port ' "$1/s3.port" 2>/dev/null; do
		if ! kill -0 "$(cat "$1/s3.pid")" 2>/dev/null || [ $i -ge 400 ]; then
			echo "S3 server did not start:" >&2
			cat "$1/s3.log" >&2
			return 1
		fi
		i=$((i + 1)); sleep 0.05
	done
	S3_PORT=$(awk '/^port /{print $2}' "$1/s3.port")
}

s3_stop() {
	[ -f "$1/s3.pid" ] || return 0
	p=$(cat "$1/s3.pid")
	kill -TERM "$p" 2>/dev/null || true
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 200 ]; do
		i=$((i + 1)); sleep 0.05
	done
	kill -KILL "$p" 2>/dev/null || true
	rm -f "$1/s3.pid"
}

net_stop_all() {	# DIR
	nginx_stop "$1"
	s3_stop "$1"
}
