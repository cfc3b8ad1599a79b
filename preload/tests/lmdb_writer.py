#!/usr/bin/python3
# lmdb_writer.py PRELOAD_LIB DIR: an LMDB writer process (this one, not
# preloaded, python3-lmdb) commits transactions in rounds while reader
# processes run under LD_PRELOAD=PRELOAD_LIB (FC_PRELOAD_STATS=1): two
# python3-lmdb readers that live through the whole run, one more started
# in each round, and an mdb_dump (lmdb-utils) in each round. Called by
# real_program.sh (lmdb_writer), which installs the packages.
#
# Transaction k writes n(k) keys whose values all encode k, deletes the
# keys of the previous transaction beyond n(k), and writes "~sum" (k,
# n(k) and a CRC32 of every key and value). Every read transaction must
# see one whole transaction: the keys and values that k gives (the
# reference, recomputed), the same k in every value, the CRC matching.
# It must also be fresh: a reader's first k is at least what was
# committed before it started, its k never goes back, and a transaction
# begun after the writer finished sees the last k. A cache that kept
# pages another process rewrote fails one of these: LMDB rewrites its
# meta pages and reuses freed pages in every commit.
#
# The preload routes data.mdb only while no process has it open for
# writing, under a read lease; the writer opens it for each round and
# closes it after. Each round's new reader and mdb_dump start while it
# is closed: they map it through the cache, read, and the writer's open
# then breaks their lease, the preload hands their mappings to the
# kernel and they read on. The readers' statistics lines must show
# faults (the cache served reads) and lease breaks.
#
# Nothing here has a time limit: the writer waits for each new reader to
# have read once (a file it makes), and all wait for processes to end.
import os
import subprocess
import sys
import time
import zlib

import lmdb

ROUNDS = 24
PER_ROUND = 4		# transactions per round
MAP = 1 << 30		# larger than the file: LMDB maps all of it


def nkeys(k):
	return 1500 + (k * 389) % 1500


def key(i):
	return b'key%06d' % i


def value(k, i):
	return (b'%d.%d|' % (k, i)) * (1 + (i * 7 + k) % 60)


def summary(k, items):
	crc = 0
	for kk, v in items:
		crc = zlib.crc32(v, zlib.crc32(kk, crc))
	return b'%d %d %08x' % (k, len(items), crc)


def check(items):
	"""The k of one transaction's (key, value) list, or an error."""
	if not items or items[-1][0] != b'~sum':
		raise ValueError('no ~sum key')
	k, n, _ = items[-1][1].split(b' ')
	k, n = int(k), int(n)
	data = items[:-1]
	if n != nkeys(k) or len(data) != n:
		raise ValueError('k=%d: %d keys, ~sum says %d, the reference %d'
				 % (k, len(data), n, nkeys(k)))
	ks = set()
	for i, (kk, v) in enumerate(data):
		ks.add(int(v.split(b'.', 1)[0]))
		if kk != key(i) or v != value(k, i):
			raise ValueError('k=%d: key %r value %r..., the reference '
					 '%r %r...' % (k, kk, v[:40], key(i),
						       value(k, i)[:40]))
	if ks != {k}:
		raise ValueError('values of transactions %s in one' % sorted(ks))
	if summary(k, data) != items[-1][1]:
		raise ValueError('k=%d: ~sum %r, computed %r'
				 % (k, items[-1][1], summary(k, data)))
	return k


def read_txn(env):
	with env.begin(buffers=False) as txn:
		return check(list(txn.cursor()))


def reader(d, rid, floor, span):
	"""Under the preload: read transactions until the writer is done
	(then one more, which must see the last k) or, for a round's reader,
	until k has passed floor + span."""
	env = lmdb.open(d + '/db', readonly=True, lock=True, map_size=MAP)
	last = read_txn(env)
	if last < floor:
		sys.exit('reader %s: first k=%d, but %d was committed before '
			 'it started' % (rid, last, floor))
	with open('%s/ready.%s' % (d, rid), 'w'):
		pass
	n = 1
	while True:
		done = None
		if os.path.exists(d + '/done'):
			with open(d + '/done') as f:
				done = int(f.read())
		k = read_txn(env)
		n += 1
		if k < last:
			sys.exit('reader %s: k went back from %d to %d'
				 % (rid, last, k))
		last = k
		if done is not None:
			if k != done:
				sys.exit('reader %s: the writer finished at k=%d, '
					 'a transaction begun after sees k=%d'
					 % (rid, done, k))
			break
		if span and k >= floor + span:
			break
	env.close()
	print('reader %s: %d transactions, k %d..%d' % (rid, n, floor, last))


def commit(env, k):
	with env.begin(write=True) as txn:
		items = [(key(i), value(k, i)) for i in range(nkeys(k))]
		for kk, v in items:
			txn.put(kk, v)
		for i in range(nkeys(k), nkeys(k - 1) if k else 0):
			txn.delete(key(i))
		txn.put(b'~sum', summary(k, items))


def main():
	lib, d = sys.argv[1], sys.argv[2]
	me = os.path.abspath(sys.argv[0])
	env_pre = dict(os.environ, LD_PRELOAD=lib, FC_PRELOAD_STATS='1',
		       FC_PRELOAD_PATHS=d + '/db/data.mdb')
	procs = []	# (name, Popen, stdout path or None, floor)

	def spawn(name, argv, out, floor):
		err = open('%s/%s.err' % (d, name), 'w')
		o = open(out, 'w') if out else subprocess.DEVNULL
		procs.append((name, subprocess.Popen(argv, env=env_pre,
						     stdout=o, stderr=err),
			      out, floor))

	def wait_ready(rid, p):
		while not os.path.exists('%s/ready.%s' % (d, rid)):
			if p.poll() is not None:
				sys.exit('reader %s ended before reading: %s'
					 % (rid, open('%s/%s.err' % (d, rid)).read()))
			time.sleep(0.01)	# polls: no time limit

	env = lmdb.open(d + '/db', map_size=MAP)
	commit(env, 0)
	env.close()
	k = 0
	for rid in ('a', 'b'):
		spawn(rid, [sys.executable, me, 'read', d, rid, '0', '0'],
		      None, 0)
	for r in range(ROUNDS):
		rid = 'r%d' % r
		spawn(rid, [sys.executable, me, 'read', d, rid, str(k),
			    str(2 * PER_ROUND)], None, k)
		spawn('dump%d' % r, ['mdb_dump', d + '/db'],
		      '%s/dump%d.out' % (d, r), k)
		for name, p, _, _ in procs[:2] + procs[-2:-1]:
			wait_ready(name, p)
		# opening data.mdb for writing breaks the readers' leases
		env = lmdb.open(d + '/db', map_size=MAP)
		for _ in range(PER_ROUND):
			k += 1
			commit(env, k)
		env.close()
	with open(d + '/done.tmp', 'w') as f:
		f.write(str(k))
	os.rename(d + '/done.tmp', d + '/done')

	faults = breaks = 0
	bad = False
	for name, p, out, floor in procs:
		rc = p.wait()
		err = open('%s/%s.err' % (d, name)).read()
		stats = [ln for ln in err.splitlines()
			 if ln.startswith('faultcache:')]
		if rc or not stats:
			print('FAIL: %s exited with %d: %s' % (name, rc, err))
			bad = True
			continue
		f = dict(x.split('=') for x in stats[-1].split()[1:])
		faults += int(f['faults'])
		breaks += int(f['lease_breaks'])
		if out:		# mdb_dump: one transaction, "key\n value\n" in hex
			lines = open(out).read().split('DATA=END')[0]
			lines = lines.split('HEADER=END\n')[1].splitlines()
			items = [(bytes.fromhex(lines[i].strip()),
				  bytes.fromhex(lines[i + 1].strip()))
				 for i in range(0, len(lines), 2)]
			try:
				kd = check(items)
			except ValueError as e:
				print('FAIL: %s: %s' % (name, e))
				bad = True
				continue
			if not floor <= kd <= k:
				print('FAIL: %s: k=%d, committed before it '
				      'started: %d' % (name, kd, floor))
				bad = True
	print('writer: %d transactions in %d rounds; %d readers; faults=%d '
	      'lease_breaks=%d' % (k, ROUNDS, len(procs), faults, breaks))
	if bad:
		sys.exit(1)
	if not faults or not breaks:
		sys.exit('FAIL: the cache served no reads (faults=%d) or no '
			 'lease was broken (lease_breaks=%d)' % (faults, breaks))


if __name__ == '__main__':
	if sys.argv[1] == 'read':
		try:
			reader(sys.argv[2], sys.argv[3], int(sys.argv[4]),
			       int(sys.argv[5]))
		except ValueError as e:
			sys.exit('reader %s: %s' % (sys.argv[3], e))
	else:
		main()
