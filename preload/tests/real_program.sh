#!/bin/sh
# real_program.sh PRELOAD_LIB PROGRAM: a program nobody here wrote, from
# Debian, run on data this script makes, once as it is and once under
# LD_PRELOAD=PRELOAD_LIB with FC_PRELOAD_PATHS naming the data. Its
# output must be the same byte for byte, and the preload's statistics
# line (FC_PRELOAD_STATS=1) must show that the cache served reads
# (faults > 0, bytes_read > 0). PROGRAM is one of:
#   sqlite  sqlite3 with PRAGMA mmap_size larger than the database:
#           aggregate and point queries, inserts between them (the
#           database grows under its map: mremap, munmap and map again)
#   lmdb    mdb_stat -a and mdb_dump -a of a database written here (map
#           longer than the file)
#   lmdb_writer
#           readers (python3-lmdb, mdb_dump) under the preload while a
#           writer process commits transactions: every read transaction
#           is one whole, fresh snapshot (lmdb_writer.py says how)
#   git     git cat-file --batch-all-objects --batch-check, git log -p,
#           git rev-list --objects and git fsck on a repository made with fast-import (pack
#           windows at non-zero offsets: core.packedGitWindowSize)
#   numpy   np.load(mmap_mode='r') and mmap.mmap reductions
#   fio     fio --ioengine=mmap, rw=read and rw=randread (fixed randseed),
#           verifying (crc32c) every block of a file written by fio
#           without the preload: fio itself checks each byte it reads
#           through the map; the runs must report the same work and no
#           error
#   ag      ag (silversearcher-ag) searching a text file of some MiB
#           (PROT_READ, MAP_PRIVATE, MADV_SEQUENTIAL)
# Missing packages are installed (apt-get, no recommended packages);
# the test skips (77) only when they cannot be, and says which.
set -eu
lib=$1
prog=$2
py=/usr/bin/python3	# Debian's, with Debian's numpy and lmdb
here=$(cd "$(dirname "$0")" && pwd)

need() {	# Debian packages
	missing=""
	for p in "$@"; do
		dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null |
			grep -q '^ii' || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
	log=$(mktemp /tmp/fcp-apt.XXXXXX)
	echo "installing$missing"
	# two tests may install at once: apt waits for dpkg's lock
	if ! { $sudo apt-get update -qq &&
	       DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		-o DPkg::Lock::Timeout=600 --no-install-recommends \
		$missing; } > "$log" 2>&1; then
		tail -n 5 "$log"
		rm -f "$log"
		echo "SKIP: cannot install the Debian packages$missing"
		exit 77
	fi
	rm -f "$log"
}

dir=$(mktemp -d "${FC_TEST_DIR:-/var/tmp}/fcp-real.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir"

prepare() { :; }	# before each run: the data as made

# run NAME CMD...: CMD as it is (NAME.ref) and under the preload (NAME.out,
# statistics in NAME.err); the outputs must match.
run() {
	name=$1
	shift
	prepare
	"$@" > "$name.ref"
	prepare
	LD_PRELOAD="$lib" FC_PRELOAD_PATHS="$dir/data/*" FC_PRELOAD_STATS=1 \
		"$@" > "$name.out" 2> "$name.err" || {
		rc=$?
		cat "$name.err"
		echo "FAIL: $name exited with $rc under the preload"
		exit 1
	}
	if ! cmp -s "$name.ref" "$name.out"; then
		echo "FAIL: $name: output differs under the preload"
		diff "$name.ref" "$name.out" | head -n 20
		exit 1
	fi
	stats=$(grep '^faultcache:' "$name.err" | tail -n 1)
	echo "$name: $(wc -c < "$name.out") bytes of output alike; $stats"
	f=$(echo "$stats" | sed -n 's/.* faults=\([0-9]*\) .*/\1/p')
	b=$(echo "$stats" | sed -n 's/.* bytes_read=\([0-9]*\) .*/\1/p')
	if [ -z "$f" ] || [ "$f" -eq 0 ] || [ "$b" -eq 0 ]; then
		cat "$name.err"
		echo "FAIL: $name: the cache served nothing"
		exit 1
	fi
}

mkdir data
case $prog in
sqlite)
	need sqlite3
	# 20000 rows, about 3 MiB: more than the first map (PRAGMA mmap_size
	# maps what the file holds, then grows the map as it grows)
	{
		echo "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);"
		echo "BEGIN;"
		echo "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)"
		echo "INSERT INTO t SELECT i, (i * 7919) % 1000, hex(randomblob(64)) FROM c;"
		echo "CREATE INDEX tk ON t(k);"
		echo "COMMIT;"
	} | sqlite3 db.orig
	# hex(randomblob) differs per run: the reference is this database's
	cat > q.sql <<'EOF'
PRAGMA mmap_size = 268435456;
SELECT count(*), sum(k), sum(length(v)), max(v) FROM t;
SELECT id, k, v FROM t WHERE id IN (1, 777, 12345, 19999);
SELECT k, count(*), min(id), max(id) FROM t GROUP BY k ORDER BY k LIMIT 20;
WITH RECURSIVE c(i) AS (SELECT 20001 UNION ALL SELECT i + 1 FROM c WHERE i < 40000)
INSERT INTO t SELECT i, i % 1000, printf('%0128d', i) FROM c;
SELECT count(*), sum(k), sum(length(v)) FROM t;
SELECT id, v FROM t WHERE k = 500 ORDER BY id;
WITH RECURSIVE c(i) AS (SELECT 40001 UNION ALL SELECT i + 1 FROM c WHERE i < 60000)
INSERT INTO t SELECT i, i % 997, printf('%0256d', i) FROM c;
SELECT count(*), sum(k), sum(length(v)), max(id) FROM t;
PRAGMA integrity_check;
EOF
	prepare() { cp db.orig data/db.sqlite; }
	run sqlite sqlite3 -bail data/db.sqlite ".read q.sql"
	;;
lmdb)
	need lmdb-utils python3-lmdb
	"$py" - <<'EOF'
import lmdb
# a map far larger than the file: LMDB maps all of it
env = lmdb.open('data', map_size=1 << 30, max_dbs=4)
main = env.open_db(b'main')
side = env.open_db(b'side')
for n in range(8):
    with env.begin(write=True) as txn:
        for i in range(n * 5000, (n + 1) * 5000):
            txn.put(b'key%08d' % i, (b'%d.' % (i * 2654435761 % 4294967296)) * (1 + i % 40), db=main)
            if i % 7 == 0:
                txn.put(b's%d' % i, b'x' * (i % 3000), db=side)
    with env.begin(write=True) as txn:
        for i in range(n * 5000, n * 5000 + 500):
            txn.delete(b'key%08d' % (i * 3 % ((n + 1) * 5000)), db=main)
env.close()
EOF
	run mdb_stat mdb_stat -a -e -f -r data
	run mdb_dump mdb_dump -a data
	run mdb_dump_s mdb_dump -s side data
	;;
lmdb_writer)
	need lmdb-utils python3-lmdb
	# other processes' writes are seen through leases (files.c)
	if [ "$(cat /proc/sys/fs/leases-enable 2>/dev/null)" != 1 ]; then
		echo "SKIP: file leases are off (/proc/sys/fs/leases-enable)"
		exit 77
	fi
	"$py" "$here/lmdb_writer.py" "$lib" "$dir/data"
	;;
git)
	need git
	# blobs of random text in 200 commits: a pack of about 8 MiB
	"$py" - <<'EOF' > import.txt
import random
r = random.Random(26)
words = [''.join(r.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(r.randint(2, 9))) for _ in range(5000)]
files = {}
out = []
for c in range(200):
    for _ in range(6):
        name = 'f%03d.txt' % r.randint(0, 150)
        lines = files.get(name, [])
        lines = lines[:r.randint(0, len(lines))] + [' '.join(r.choice(words) for _ in range(12)) for _ in range(r.randint(20, 200))]
        files[name] = lines
        data = '\n'.join(lines) + '\n'
        out.append('blob\nmark :%d\ndata %d\n%s' % (c * 10 + _ + 1, len(data.encode()), data))
        files[name + '#'] = c * 10 + _ + 1
    msg = 'commit %d\n' % c
    out.append('commit refs/heads/main\ncommitter T <t@example.org> %d +0000\ndata %d\n%s' % (1700000000 + c * 60, len(msg), msg))
    for k, v in sorted(files.items()):
        if k.endswith('#'):
            out.append('M 100644 :%d %s\n' % (v, k[:-1]))
    files = {k: v for k, v in files.items() if not k.endswith('#')}
    out.append('\n')
print(''.join(out), end='')
EOF
	git init -q --bare -b main data/repo.git
	git -C data/repo.git fast-import --quiet < import.txt
	git -C data/repo.git repack -a -d -q
	# small windows: git maps its pack at non-zero offsets
	g="git -C data/repo.git -c core.packedGitWindowSize=65536 -c core.packedGitLimit=1048576 --no-pager"
	run catfile $g cat-file --batch-all-objects --batch-check
	run logp $g log -p --stat
	run revlist $g rev-list --objects --all
	run fsck $g fsck --full --no-dangling --no-progress
	;;
numpy)
	need python3-numpy
	"$py" -c '
import numpy as np
r = np.random.default_rng(26)
np.save("data/a.npy", r.standard_normal((512, 1024)))
r.integers(0, 256, 3 << 20, dtype=np.uint8).tofile("data/b.bin")'
	cat > q.py <<'EOF'
import mmap, sys
import numpy as np
a = np.load(sys.argv[1] + '/a.npy', mmap_mode='r')
print(a.shape, repr(a.sum()), repr(a[::7, 3::11].mean()), repr(a[100:300].std()))
print(repr(np.sort(a[:, 17])[:5]))
with open(sys.argv[1] + '/b.bin', 'rb') as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ, offset=mmap.ALLOCATIONGRANULARITY * 16)
    b = np.frombuffer(m, dtype=np.uint8)
    print(len(m), int(b.sum()), np.bincount(b[::3], minlength=256)[:8].tolist(), m[1000:1016].hex())
    print(m.find(bytes(b[123456:123460])))
    del b
    m.close()
EOF
	run numpy "$py" q.py data
	;;
fio)
	need fio
	# 8 MiB in 4 KiB blocks, each with a crc32c header naming its offset,
	# written without the preload (fio maps O_RDWR for writes)
	fio --name=write --filename=data/f --size=8m --bs=4k --rw=write \
		--ioengine=psync --verify=crc32c --do_verify=0 \
		--output-format=terse > /dev/null
	for rw in read randread; do
		# --thread: the job runs in the process that prints the
		# statistics line (fio's forked jobs do not leave through
		# exit handlers). fio maps the file PROT_READ, MAP_SHARED
		# and reads every block once (random map on), verifying it;
		# --verify_fatal makes a bad block an exit status.
		set -- fio --thread --name="$rw" --filename=data/f --size=8m \
			--bs=4k --rw="$rw" --randseed=26 --ioengine=mmap \
			--verify=crc32c --verify_fatal=1 --verify_state_save=0 \
			--output-format=json
		"$@" > "$rw.ref.json"
		LD_PRELOAD="$lib" FC_PRELOAD_PATHS="$dir/data/*" \
			FC_PRELOAD_STATS=1 "$@" > "$rw.json" 2> "$rw.err" || {
			rc=$?
			cat "$rw.err"
			echo "FAIL: fio $rw exited with $rc under the preload"
			exit 1
		}
		# timings differ; the work done and the errors must not
		for j in "$rw.ref.json" "$rw.json"; do
			"$py" -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
r = j["read"]
print(j["jobname"], "error", j["error"], "io_bytes", r["io_bytes"],
      "total_ios", r["total_ios"], "short_ios", r["short_ios"],
      "drop_ios", r["drop_ios"])' "$j" > "$j.sum"
		done
		if ! cmp -s "$rw.ref.json.sum" "$rw.json.sum" ||
		   ! grep -q "error 0 io_bytes 8388608 total_ios 2048 " \
			"$rw.json.sum"; then
			echo "FAIL: fio $rw: as it is:" $(cat "$rw.ref.json.sum")
			echo "FAIL: fio $rw: under the preload:" $(cat "$rw.json.sum")
			exit 1
		fi
		stats=$(grep '^faultcache:' "$rw.err" | tail -n 1)
		echo "fio $rw:" $(cat "$rw.json.sum") "; $stats"
		f=$(echo "$stats" | sed -n 's/.* faults=\([0-9]*\) .*/\1/p')
		b=$(echo "$stats" | sed -n 's/.* bytes_read=\([0-9]*\) .*/\1/p')
		if [ -z "$f" ] || [ "$f" -eq 0 ] || [ "$b" -eq 0 ]; then
			cat "$rw.err"
			echo "FAIL: fio $rw: the cache served nothing"
			exit 1
		fi
	done
	;;
ag)
	need silversearcher-ag
	# 120000 lines of random words, about 6 MiB
	"$py" - <<'EOF'
import random
r = random.Random(26)
words = [''.join(r.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(r.randint(2, 9))) for _ in range(5000)]
with open('data/t.txt', 'w') as f:
    for i in range(120000):
        f.write(' '.join(r.choice(words) for _ in range(8)) + '\n')
EOF
	# one file named: ag maps it whole and searches it in one thread
	run ag_lines ag --nocolor --numbers --column 'abc[a-z]*' data/t.txt
	run ag_count ag --nocolor -c -w -i 'q[a-z]{3}' data/t.txt
	run ag_only ag --nocolor -o 'x[aeiou]z' data/t.txt
	run ag_context ag --nocolor -A 1 -B 1 'qqq|zzz' data/t.txt
	run ag_invert ag --nocolor -v 'e' data/t.txt
	;;
*)
	echo "real_program.sh: no program $prog"
	exit 2
	;;
esac
