#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""preload-programs.py - real programs on multi-GiB data, three ways.

Each program (Debian's, nobody here wrote them) runs on data this script
makes in a directory of its own, which it removes at the end:

  kernel   as it is: the kernel's page cache, which may take all free
           memory;
  @cg      as it is, inside a memory cgroup limited to the budget (the
           kernel at equal memory, as fcbench's mmap@cg: bench/memcg.c);
  preload  under LD_PRELOAD=libfaultcache-preload.so, FC_CACHE_BYTES set
           to the budget, FC_PRELOAD_PATHS naming the data.

Every run starts cold: before each, the script writes 3 to
/proc/sys/vm/drop_caches, which drops the page cache of the whole machine.
That is why this is a benchmark run by hand as root, not a test. The
variants alternate inside each repetition (their order reversed every
other one). For each run it records the wall time, the CPU time (user
and system; in the JSON only), the peak resident set (VmHWM, sampled
from /proc: anonymous, file and shared pages mapped), the peak memory
charged to a cgroup made for the run (page cache included; the kernel
and preload variants run in a cgroup without a limit, only to measure
it), and for the preload its statistics line (FC_PRELOAD_STATS=1:
peak_resident, faults, bytes_read). The output of every run of a program
must be the same (a SHA-256 of its standard output; fio's summary of the
work done): a difference fails the run (exit 1).

Results: a Markdown table on standard output and every run in
OUT/preload-programs.json; --table JSON... prints the table of earlier
runs. Run by tools/run-preload-bench.sh; docs/benchmarks.md has the
method and the current table.
"""
import argparse
import hashlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time

MiB = 1 << 20
GiB = 1 << 30
PY = '/usr/bin/python3'		# Debian's, with Debian's numpy and lmdb


def size_arg(s):
	mult = {'k': 1 << 10, 'm': MiB, 'g': GiB}.get(s[-1:].lower())
	return int(float(s[:-1]) * mult) if mult else int(s)


def log(*a):
	print(*a, file=sys.stderr, flush=True)


# ---- memory cgroups (as bench/memcg.c) ----

class Cgroups:
	"""Memory cgroups made for one run each: v1 a child of this
	process's memory cgroup, v2 a sibling of its cgroup."""

	def __init__(self):
		mounts = {}
		for line in open('/proc/self/mountinfo'):
			pre, post = line.split(' - ')
			root, mnt = pre.split()[3:5]
			fstype, _, opts = post.split()[:3]
			if root != '/':
				continue
			if fstype == 'cgroup' and 'memory' in opts.split(','):
				mounts[1] = mnt
			elif fstype == 'cgroup2':
				mounts[2] = mnt
		own = {}
		for line in open('/proc/self/cgroup'):
			_, ctl, path = line.rstrip('\n').split(':', 2)
			own[ctl] = path.rstrip('/')
		if 1 in mounts and 'memory' in own:
			self.v, self.parent = 1, mounts[1] + own['memory']
		elif 2 in mounts and '' in own:
			self.v = 2
			self.parent = os.path.dirname(mounts[2] + own[''])
			ctl = open(self.parent + '/cgroup.subtree_control').read()
			if 'memory' not in ctl.split():
				sys.exit('cgroup v2: memory is not in %s/cgroup.'
					 'subtree_control' % self.parent)
		else:
			sys.exit('no memory cgroup hierarchy mounted')
		self.dirs = []

	def make(self, limit):
		d = '%s/fcpbench.%d.%d' % (self.parent, os.getpid(),
					   len(self.dirs))
		os.mkdir(d)
		self.dirs.append(d)
		if limit:
			self.put(d, 'memory.limit_in_bytes' if self.v == 1
				 else 'memory.max', limit)
			if self.v == 2:
				self.put(d, 'memory.swap.max', 0)
		return d

	@staticmethod
	def put(d, f, val):
		with open(d + '/' + f, 'w') as fh:
			fh.write(str(val))

	def peak(self, d):
		f = 'memory.max_usage_in_bytes' if self.v == 1 else 'memory.peak'
		return int(open(d + '/' + f).read())

	def oom_kills(self, d):
		f = 'memory.oom_control' if self.v == 1 else 'memory.events'
		for line in open(d + '/' + f):
			k, v = line.split()
			if k == 'oom_kill':
				return int(v)
		return 0

	def remove(self, d):
		if self.v == 1:
			try:
				self.put(d, 'memory.force_empty', 1)
			except OSError:
				pass
		for _ in range(500):	# charges leave shortly after the exit
			try:
				os.rmdir(d)
				break
			except OSError:
				time.sleep(0.01)
		if d in self.dirs:
			self.dirs.remove(d)

	def remove_all(self):
		for d in list(self.dirs):
			self.remove(d)


# ---- the data ----

def make_text(d, size):
	"""ag: lines of random words, a 16 MiB block written again and again,
	each copy headed by a line of its own."""
	r = random.Random(26)
	words = [''.join(r.choice('abcdefghijklmnopqrstuvwxyz')
			 for _ in range(r.randint(2, 9))) for _ in range(5000)]
	lines = []
	n = 0
	while n < 16 * MiB:
		ln = ' '.join(r.choice(words) for _ in range(10)) + '\n'
		lines.append(ln)
		n += len(ln)
	block = ''.join(lines).encode()
	with open(d + '/text.txt', 'wb') as f:
		c = 0
		while f.tell() < size:
			f.write(b'marker %06d\n' % c)
			f.write(block)
			c += 1


def make_npy(d, size):
	"""numpy and fio: float64 random numbers in a .npy file."""
	import numpy as np
	n = size // 8
	a = np.lib.format.open_memmap(d + '/a.npy', mode='w+',
				      dtype=np.float64, shape=(n,))
	rng = np.random.default_rng(26)
	step = 16 * MiB
	for i in range(0, n, step):
		a[i:i + step] = rng.random(min(step, n - i))
	a.flush()
	del a


def make_sqlite(d, size):
	rows = size // 1100
	sql = ('PRAGMA journal_mode = OFF;\n'
	       'CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v BLOB);\n'
	       'BEGIN;\nWITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT '
	       'i + 1 FROM c WHERE i < %d)\nINSERT INTO t SELECT i, '
	       '(i * 7919) %% 1000, randomblob(1000) FROM c;\nCOMMIT;\n' % rows)
	subprocess.run(['sqlite3', d + '/db.sqlite'], input=sql.encode(),
		       stdout=subprocess.DEVNULL, check=True)
	with open(d + '/q.sql', 'w') as f:
		f.write('PRAGMA mmap_size = 2147418112;\n'
			'SELECT count(*), sum(k), sum(length(v)), hex(max(v)) '
			'FROM t;\n'
			'SELECT k, count(*), hex(min(v)) FROM t WHERE id %% 97 = 0 '
			'GROUP BY k ORDER BY k LIMIT 10;\n'
			'SELECT id, k, hex(substr(v, 1, 16)) FROM t WHERE id IN '
			'(1, 4242, %d, %d);\n' % (rows // 2, rows))


def make_lmdb(d, size):
	import lmdb
	env = lmdb.open(d + '/lmdb', map_size=4 * size, writemap=False)
	r = random.Random(26)
	n = size // 1024
	i = 0
	while i < n:
		with env.begin(write=True) as txn:
			for j in range(i, min(n, i + 100000)):
				txn.put(b'key%010d' % j, r.randbytes(1000),
					append=True)
		i += 100000
	env.close()


def make_git(d, size):
	"""git: a bare repository of one pack written by fast-import, blobs
	of 128 KiB of random bytes (they do not compress: the pack is as
	large as the data)."""
	repo = d + '/repo.git'
	subprocess.run(['git', 'init', '-q', '--bare', '-b', 'main', repo],
		       check=True)
	p = subprocess.Popen(['git', '-C', repo, '-c', 'core.compression=1',
			      '-c', 'pack.compression=1', 'fast-import',
			      '--quiet'], stdin=subprocess.PIPE)
	r = random.Random(26)
	n = size // (128 << 10)
	out = p.stdin
	for i in range(n):
		blob = r.randbytes(128 << 10)
		out.write(b'blob\nmark :%d\ndata %d\n' % (i + 1, len(blob)))
		out.write(blob)
		out.write(b'\n')
	msg = b'all blobs\n'
	out.write(b'commit refs/heads/main\ncommitter T <t@example.org> '
		  b'1700000000 +0000\ndata %d\n%s' % (len(msg), msg))
	for i in range(n):
		out.write(b'M 100644 :%d d%03d/f%05d\n' % (i + 1, i % 128, i))
	out.write(b'\n')
	out.close()
	if p.wait():
		sys.exit('git fast-import failed')


# ---- the programs ----

def fio_summary(out):
	try:
		j = json.loads(out[out.index(b"{"):])["jobs"][0]
	except ValueError:
		return b"no JSON: " + out[:200]
	r = j['read']
	return ('%s error %d io_bytes %d total_ios %d short_ios %d drop_ios %d'
		% (j['jobname'], j['error'], r['io_bytes'], r['total_ios'],
		   r['short_ios'], r['drop_ios'])).encode()


def programs(d, big):
	"""(name, data maker, data size, what it uses, argv, summary)."""
	fio = ['fio', '--thread', '--filename=' + d + '/a.npy',
	       '--ioengine=mmap', '--size=%d' % big, '--output-format=json']
	return [
		('ag', make_text, big,
		 'PROT_READ, MAP_PRIVATE, MADV_SEQUENTIAL; one pass',
		 # a word of the text, as a literal: ag's regular
		 # expressions (pcre_exec) skip files of 2 GiB and more
		 ['ag', '--nocolor', '--numbers', 'zzctr', d + '/text.txt'],
		 None),
		('fio read', make_npy, big,
		 'MAP_SHARED, 128 KiB reads in order',
		 fio + ['--name=read', '--rw=read', '--bs=128k'], fio_summary),
		('fio randread', make_npy, big,
		 'MAP_SHARED, 4 KiB reads at random (256 MiB of them)',
		 fio + ['--name=randread', '--rw=randread', '--bs=4k',
			'--io_size=256m', '--randseed=26'], fio_summary),
		('numpy', make_npy, big,
		 "np.load(mmap_mode='r'): sum, strided mean",
		 [PY, '-c', 'import sys, numpy as np\n'
		  'a = np.load(sys.argv[1], mmap_mode="r")\n'
		  'print(a.shape, repr(a.sum()), repr(a[::4099].mean()))',
		  d + '/a.npy'], None),
		('sqlite3', make_sqlite, big // 4,
		 'PRAGMA mmap_size: full-table aggregates, point queries',
		 ['sqlite3', '-bail', d + '/db.sqlite', '.read ' + d + '/q.sql'],
		 None),
		('mdb_dump', make_lmdb, big // 4,
		 'MAP_SHARED of the whole map (4x the file): every page',
		 ['mdb_dump', d + '/lmdb'], None),
		('mdb_stat', make_lmdb, big // 4,
		 'MAP_SHARED: free list, and (-a) a cursor over every key '
		 'of the main database, looking for named ones',
		 ['mdb_stat', '-a', '-e', '-f', d + '/lmdb'], None),
		('git cat-file', make_git, big // 2,
		 'a pack of 128 KiB blobs and its .idx, in hash order',
		 ['git', '-C', d + '/repo.git', 'cat-file',
		  '--batch-all-objects', '--batch-check'], None),
	]


# ---- one run ----

def drop_caches():
	os.sync()
	with open('/proc/sys/vm/drop_caches', 'w') as f:
		f.write('3')


def sample_hwm(pid, out, stop):
	"""VmHWM of @pid (its mm after exec: the fork's copy of this
	process is not counted, as it is in ru_maxrss), sampled until @stop;
	it only grows, so the last sample misses at most the last 10 ms."""
	while not stop.is_set():
		try:
			for line in open('/proc/%d/status' % pid):
				if line.startswith('VmHWM:'):
					out[0] = int(line.split()[1]) * 1024
		except (OSError, ValueError):
			pass
		stop.wait(0.01)


def run(argv, env, cgd, err_path):
	"""argv in cgroup @cgd: wall seconds, CPU seconds (user and
	system), peak RSS, exit status, SHA-256 of its output, the output's
	first 4 MiB."""
	def join():
		with open(cgd + '/cgroup.procs', 'w') as f:
			f.write(str(os.getpid()))
	err = open(err_path, 'wb')
	t0 = time.monotonic()
	p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
			     stderr=err, preexec_fn=join)
	hwm, stop = [0], threading.Event()
	th = threading.Thread(target=sample_hwm, args=(p.pid, hwm, stop))
	th.start()
	h = hashlib.sha256()
	head = bytearray()
	while True:
		b = p.stdout.read(1 << 20)
		if not b:
			break
		h.update(b)
		if len(head) < (4 << 20):
			head += b
	# sampled until the exit: a zombie's status has no VmHWM
	_, status, ru = os.wait4(p.pid, 0)
	wall = time.monotonic() - t0
	stop.set()
	th.join()
	p.returncode = os.waitstatus_to_exitcode(status)
	err.close()
	return (wall, ru.ru_utime + ru.ru_stime, hwm[0], p.returncode,
		h.hexdigest(), bytes(head))


def stats_line(path):
	for line in reversed(open(path, errors='replace').read().splitlines()):
		if line.startswith('faultcache:'):
			return dict(x.split('=', 1) for x in line.split()[1:])
	return None


def main():
	ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
	ap.add_argument('--lib', default='build-release/preload/'
			'libfaultcache-preload.so')
	ap.add_argument('--dir', default=os.environ.get('FC_BENCH_DIR',
							'/var/tmp'))
	ap.add_argument('--size', type=size_arg, default=4 * GiB,
			help='the large files (ag, fio, numpy); sqlite3 and '
			'LMDB get a quarter, git a half (default 4G)')
	ap.add_argument('--budget', type=size_arg, default=512 * MiB)
	ap.add_argument('--reps', type=int, default=3)
	ap.add_argument('--programs', help='comma-separated names (default '
			'all): ' + ', '.join(p[0] for p in programs('', 0)))
	ap.add_argument('--out', default='bench-results')
	ap.add_argument('--table', nargs='+', metavar='JSON',
			help='only print the table of these results (a '
			"program's runs from the last file that has it)")
	a = ap.parse_args()
	if a.table:
		sys.exit(0 if table_of(a.table) else 1)
	if os.geteuid():
		sys.exit('preload-programs.py: needs root (drop_caches, memory '
			 'cgroups)')
	lib = os.path.abspath(a.lib)
	if not os.path.exists(lib):
		sys.exit('no %s: sh tools/build-release.sh faultcache_preload'
			 % lib)
	cg = Cgroups()
	d = os.path.realpath(
		os.path.join(a.dir, 'fcpbench.%d' % os.getpid()))
	os.mkdir(d)
	signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
	try:
		ok = bench(a, lib, cg, d)
	finally:
		cg.remove_all()
		subprocess.run(['rm', '-rf', d])
	sys.exit(0 if ok else 1)


def bench(a, lib, cg, d):
	progs = programs(d, a.size)
	if a.programs:
		want = a.programs.split(',')
		progs = [p for p in progs if p[0] in want]
	made = set()
	for _, maker, size, *_ in progs:
		if maker not in made:
			t = time.monotonic()
			maker(d, size)
			made.add(maker)
			log('made %s data in %.0f s' % (maker.__name__[5:],
							time.monotonic() - t))
	du = subprocess.run(['du', '-sh', d], capture_output=True,
			    text=True).stdout.split()[0]
	log('data: %s in %s' % (du, d))
	variants = ['kernel', '@cg', 'preload']
	results = []
	for name, _, size, uses, argv, summary in progs:
		for rep in range(a.reps):
			order = variants if rep % 2 == 0 else variants[::-1]
			for v in order:
				env = dict(os.environ)
				if v == 'preload':
					env.update(LD_PRELOAD=lib,
						   FC_CACHE_BYTES=str(a.budget),
						   FC_PRELOAD_PATHS=d + '/*',
						   FC_PRELOAD_STATS='1')
				drop_caches()
				cgd = cg.make(a.budget if v == '@cg' else None)
				errp = '%s/run.err' % d
				wall, cpu, rss, rc, digest, head = run(
					argv, env, cgd, errp)
				peak = cg.peak(cgd)
				ooms = cg.oom_kills(cgd)
				cg.remove(cgd)
				if summary:
					digest = hashlib.sha256(
						summary(head)).hexdigest()
				st = stats_line(errp) if v == 'preload' else None
				r = dict(program=name, variant=v, rep=rep,
					 wall_s=wall, cpu_s=cpu, maxrss=rss,
					 cg_peak=peak, oom_kills=ooms, rc=rc,
					 digest=digest, stats=st)
				if rc:
					r['stderr'] = open(errp, 'rb').read(
						)[-2000:].decode(errors='replace')
				results.append(r)
				log('%-12s %-7s rep %d: %7.2f s  rss %6.0f MiB  '
				    'cg %6.0f MiB  rc %d %s%s' % (
					    name, v, rep, wall, rss / MiB,
					    peak / MiB, rc, digest[:12],
					    '' if not st else '  peak_resident '
					    '%.0f MiB faults %s' % (
						    int(st['peak_resident']) / MiB,
						    st['faults'])))
	os.makedirs(a.out, exist_ok=True)
	meta = dict(budget=a.budget, size=a.size, reps=a.reps,
		    lib=lib, kernel=os.uname().release,
		    date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
		    commit=subprocess.run(['git', 'rev-parse', '--short',
					   'HEAD'], capture_output=True,
					  text=True).stdout.strip())
	with open(a.out + '/preload-programs.json', 'w') as f:
		json.dump(dict(meta=meta, runs=results), f, indent=1)
	return table(results, meta)


def table(results, meta):
	"""The Markdown table of @results; False if a program's outputs
	differ or one failed."""
	ok = True
	uses = {p[0]: p[3] for p in programs('', 0)}
	names = list(dict.fromkeys(r['program'] for r in results))

	def med(xs):
		return statistics.median(xs)

	print('Budget %d MiB (FC_CACHE_BYTES, and the @cg limit); %d '
	      'repetitions, cold; median [min-max]; x = ratio of medians to '
	      'the kernel. Library %s, Linux %s, %s.\n' % (
		      meta['budget'] // MiB, meta['reps'], meta['commit'],
		      meta['kernel'], meta['date']))
	print('| program | what it maps | kernel s | @cg s | x | preload s '
	      '| x | peak RSS MiB kernel / @cg / preload | charged MiB '
	      'kernel / @cg / preload | preload peak_resident MiB, faults | '
	      'output |')
	print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- '
	      '| --- |')
	for name in names:
		rs = [r for r in results if r['program'] == name]
		by = {v: [r for r in rs if r['variant'] == v]
		      for v in ('kernel', '@cg', 'preload')}
		same = len({r['digest'] for r in rs}) == 1 and \
			not any(r['rc'] for r in rs)
		ok = ok and same
		w = {v: [r['wall_s'] for r in by[v]] for v in by}

		def t(v):
			return '%.2f [%.2f-%.2f]' % (med(w[v]), min(w[v]),
						     max(w[v]))

		def x(v):
			return '%.2f' % (med(w[v]) / med(w['kernel']))

		def mem(key):
			return ' / '.join('%.0f' % (med([r[key] for r in
							 by[v]]) / MiB)
					  for v in ('kernel', '@cg', 'preload'))
		st = [r['stats'] for r in by['preload'] if r['stats']]
		pr = '%.0f, %.0f' % (
			max(int(s['peak_resident']) for s in st) / MiB,
			med([int(s['faults']) for s in st])) if st else '-'
		ooms = sum(r['oom_kills'] for r in rs)
		print('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |'
		      % (name, uses.get(name, ''), t('kernel'), t('@cg'),
			 x('@cg'), t('preload'), x('preload'), mem('maxrss'),
			 mem('cg_peak'), pr,
			 ('identical' if same else '**DIFFERS**') +
			 (' (%d OOM kills)' % ooms if ooms else '')))
	return ok


def table_of(paths):
	"""--table: the table of earlier runs' JSON files, a program's runs
	taken from the last file that has it."""
	runs, meta = {}, None
	for path in paths:
		j = json.load(open(path))
		meta = meta or j['meta']
		for name in dict.fromkeys(r['program'] for r in j['runs']):
			runs[name] = [r for r in j['runs']
				      if r['program'] == name]
	return table([r for rs in runs.values() for r in rs], meta)


if __name__ == '__main__':
	main()
