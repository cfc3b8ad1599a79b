/* SPDX-License-Identifier: MIT */
/*
 * ui.c - the full-screen viewer: text view (tabs expanded, wrap or cut,
 * markers for bytes that are not printable UTF-8) and hex view, less/vim
 * keys, offset/percent jumps, search with progress and cancel, matches
 * highlighted on screen as less does, and a status bar with live cache
 * statistics: redrawn on a timer while reads are in flight or the numbers
 * move, so readahead that completes after a screen is drawn shows up
 * without a key press.
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

#include <faultcache.h>

#include "fcview.h"

#define MAX_LINE (64 * 1024)
#define MIN_COLS 20
#define MIN_ROWS 3
#define TICK_MS 200		/* status refresh while the cache is busy */
#define MAX_HL 4096		/* matches highlighted on one screen */

static struct {
	uint64_t top;		/* offset of the first row */
	bool hex, cut;
	struct pattern pat;
	bool have_pat, pat_fwd;
	uint64_t match;		/* last match, for n/N */
	bool have_match;
	char msg[256];
	struct fc_stats shown;	/* what the status bar shows */
} s;

/*
 * The matches of the last search pattern on the screen being drawn,
 * sorted: hl_prepare() finds them in the bytes the screen can show,
 * hl_at() tells the drawing code whether a byte is in one.
 */
static struct {
	uint64_t at[MAX_HL];
	size_t n;
} hl;

static unsigned char rowbuf[MAX_LINE + 16];

static bool hl_at(uint64_t off)
{
	size_t lo = 0, hi = hl.n;

	while (lo < hi) {	/* the last match starting at or before off */
		size_t mid = (lo + hi) / 2;

		if (hl.at[mid] <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && off < hl.at[lo - 1] + s.pat.len;
}

/*
 * Find the pattern's matches in [top - len + 1, top + span): the bytes the
 * screen at @top can show (a match may begin above it), read as the drawing
 * reads them. Overlapping matches are all found, as less highlights them.
 */
static void hl_prepare(size_t span)
{
	static unsigned char buf[MAX_LINE * 64 + 256];
	uint64_t from;
	ssize_t n;
	size_t i;

	hl.n = 0;
	if (!s.have_pat || !s.pat.len)
		return;
	from = s.top >= s.pat.len - 1 ? s.top - (s.pat.len - 1) : 0;
	if (span > sizeof(buf) - s.pat.len)
		span = sizeof(buf) - s.pat.len;
	n = view_copy(buf, from, span + (size_t)(s.top - from));
	for (i = 0; n > 0 && i + s.pat.len <= (size_t)n && hl.n < MAX_HL; i++) {
		const unsigned char *m = pattern_find(buf + i, (size_t)n - i,
						      &s.pat);

		if (!m)
			break;
		i = (size_t)(m - buf);
		hl.at[hl.n++] = from + i;
	}
}

static int rows(void)
{
	return LINES - 1;
}

/* ---- text rows ---- */

/*
 * Lay out (and draw at @y when >= 0) the text row starting at @off.
 * Returns the offset of the next row, > off; v.size at the end.
 */
static uint64_t text_row(uint64_t off, int y)
{
	size_t want = s.cut ? MAX_LINE : (size_t)COLS * 4 + 8;
	ssize_t n = view_copy(rowbuf, off, want);
	mbstate_t mb;
	size_t i = 0;
	int x = 0;

	if (n <= 0)
		return n < 0 ? v.size : off + 1;
	memset(&mb, 0, sizeof(mb));
	if (y >= 0)
		move(y, 0);
	while (i < (size_t)n) {
		unsigned char c = rowbuf[i];
		wchar_t wc;
		size_t l;
		int w;

		if (c == '\n')
			return off + i + 1;
		if (c == '\t') {
			w = 8 - x % 8;
			if (!s.cut && x + w > COLS && x)
				return off + i;
			if (y >= 0 && x < COLS)
				printw("%*s", x + w > COLS ? COLS - x : w, "");
			x += w;
			i++;
			continue;
		}
		l = mbrtowc(&wc, (const char *)rowbuf + i, (size_t)n - i, &mb);
		w = l < (size_t)-2 && l > 0 && iswprint((wint_t)wc) ?
			    wcwidth(wc) : -1;
		if (w < 0) {	/* invalid UTF-8 or not printable: marker */
			memset(&mb, 0, sizeof(mb));
			l = 1;
			w = 1;
		}
		if (!s.cut && x + w > COLS)
			return off + i;
		if (y >= 0 && x + w <= COLS) {
			bool mark = hl.n && hl_at(off + i);

			if (mark)
				attron(A_STANDOUT);
			if (l == 1 && (c < 0x20 || c >= 0x7f)) {
				attron(A_REVERSE);
				addch('.');
				attroff(A_REVERSE);
			} else {
				addnstr((const char *)rowbuf + i, (int)l);
			}
			if (mark)
				attroff(A_STANDOUT);
		}
		x += w;
		i += l;
	}
	return off + i;	/* at EOF, or a line split at MAX_LINE */
}

/* Start of the row before the one at @off. */
static uint64_t text_prev(uint64_t off)
{
	uint64_t lo, line, r, next;

	if (!off)
		return 0;
	lo = off > MAX_LINE + 1 ? off - MAX_LINE - 1 : 0;
	for (line = off - 1; line > lo; line--)
		if (byte_at(line - 1) == '\n')
			break;
	for (r = line; (next = text_row(r, -1)) < off && next > r;)
		r = next;
	return r;
}

/* Start of the row containing @off. */
static uint64_t text_row_of(uint64_t off)
{
	uint64_t lo = off > MAX_LINE ? off - MAX_LINE : 0, line = off, r, next;

	while (line > lo && byte_at(line - 1) != '\n')
		line--;
	for (r = line; (next = text_row(r, -1)) <= off && next > r &&
		       next < v.size;)
		r = next;
	return r;
}

/* ---- moving ---- */

static uint64_t row_down(uint64_t off)
{
	uint64_t next;

	if (s.hex)
		return off + 16 < v.size ? off + 16 : off;
	next = text_row(off, -1);
	return next < v.size ? next : off;
}

static uint64_t row_up(uint64_t off)
{
	if (s.hex)
		return off >= 16 ? off - 16 : 0;
	return text_prev(off);
}

static void scroll_rows(int n)
{
	for (; n > 0; n--)
		s.top = row_down(s.top);
	for (; n < 0; n++)
		s.top = row_up(s.top);
}

static void go_to(uint64_t off)
{
	if (!v.size) {
		s.top = 0;
		return;
	}
	if (off >= v.size)
		off = v.size - 1;
	s.top = s.hex ? off & ~15ull : text_row_of(off);
}

static void go_end(void)
{
	int i;

	if (!v.size) {
		s.top = 0;
		return;
	}
	if (s.hex) {
		uint64_t last = (v.size - 1) & ~15ull, back = (uint64_t)(rows() - 1) * 16;

		s.top = last > back ? last - back : 0;
		return;
	}
	s.top = text_row_of(v.size - 1);
	for (i = 1; i < rows() && s.top; i++)
		s.top = text_prev(s.top);
}

/* ---- drawing ---- */

static void draw_hex(void)
{
	unsigned char b[16];
	int y;

	for (y = 0; y < rows(); y++) {
		uint64_t off = s.top + (uint64_t)y * 16;
		ssize_t n = view_copy(b, off, 16), i;

		move(y, 0);
		if (n <= 0) {
			addstr(n < 0 ? "~ (gone)" : "~");
			continue;
		}
		printw("%010llx ", (unsigned long long)off);
		for (i = 0; i < 16; i++) {
			bool mark = i < n && hl.n && hl_at(off + (uint64_t)i);

			addstr(i == 8 ? "  " : " ");
			if (mark)
				attron(A_STANDOUT);
			if (i < n)
				printw("%02x", b[i]);
			else
				addstr("  ");
			if (mark)
				attroff(A_STANDOUT);
		}
		addstr("  |");
		for (i = 0; i < n; i++) {
			bool mark = hl.n && hl_at(off + (uint64_t)i);

			if (mark)
				attron(A_STANDOUT);
			addch(b[i] >= 0x20 && b[i] < 0x7f ? b[i] : '.');
			if (mark)
				attroff(A_STANDOUT);
		}
		addch('|');
	}
}

static void draw_text(void)
{
	uint64_t off = s.top;
	int y;

	for (y = 0; y < rows(); y++) {
		if (off >= v.size) {
			mvaddstr(y, 0, "~");
			continue;
		}
		off = text_row(off, y);
	}
}

static void draw_status(void)
{
	struct fc_stats st;
	char left[512], right[256];
	const char *name = strrchr(v.path, '/');
	double pct = v.size ? (double)s.top * 100.0 / (double)v.size : 100;
	int pad;

	fc_cache_stats(v.cache, &st);
	s.shown = st;
	snprintf(left, sizeof(left), " %s  @%llu  %.1f%%  %s%s",
		 name ? name + 1 : v.path, (unsigned long long)s.top,
		 s.top + 1 >= v.size ? 100.0 : pct, s.hex ? "hex" : "text",
		 s.hex ? "" : s.cut ? " cut" : " wrap");
	snprintf(right, sizeof(right),
		 "h:keys  res %.1fM faults %llu ra %llu read %.1fM ",
		 (double)st.resident_bytes / 1048576.0,
		 (unsigned long long)st.faults,
		 (unsigned long long)st.ra_pages,
		 (double)st.bytes_read / 1048576.0);
	if (v.gone && !s.msg[0])
		snprintf(s.msg, sizeof(s.msg), "the file was truncated: bytes "
			 "from offset %llu are gone", (unsigned long long)v.vanished);
	attron(A_REVERSE);
	move(LINES - 1, 0);
	if (s.msg[0]) {
		printw(" %-*.*s", COLS - 1, COLS - 1, s.msg);
	} else {
		pad = COLS - (int)strlen(left) - (int)strlen(right);
		if (pad < 1)
			printw("%-*.*s", COLS, COLS, left);
		else
			printw("%s%*s%s", left, pad, "", right);
	}
	attroff(A_REVERSE);
}

static void draw(void)
{
	erase();
	if (COLS < MIN_COLS || LINES < MIN_ROWS) {
		mvaddstr(0, 0, "terminal too small");
		refresh();
		return;
	}
	if (s.hex) {
		hl_prepare((size_t)rows() * 16);
		draw_hex();
	} else {
		hl_prepare((size_t)rows() * (s.cut ? MAX_LINE + 1 :
					   (size_t)COLS * 4 + 8));
		draw_text();
	}
	draw_status();
	refresh();
}

/*
 * Are the cache's numbers still moving: reads in flight, or a number the
 * status bar shows that has changed since it was drawn?
 */
static bool stats_moving(void)
{
	struct fc_stats st;

	if (fc_cache_stats(v.cache, &st))
		return false;
	return st.reads_inflight || st.resident_bytes != s.shown.resident_bytes ||
	       st.faults != s.shown.faults || st.ra_pages != s.shown.ra_pages ||
	       st.bytes_read != s.shown.bytes_read;
}

/*
 * The next key. While the cache is busy the status bar is redrawn every
 * TICK_MS (readahead that completes after a screen was drawn, a search's
 * reads); once it is still, wait for a key without waking.
 */
static int next_key(void)
{
	int ch;

	for (;;) {
		bool busy = stats_moving();

		timeout(busy ? TICK_MS : -1);
		ch = getch();
		if (ch != ERR)
			break;
		if (COLS >= MIN_COLS && LINES >= MIN_ROWS) {
			draw_status();
			refresh();
		}
	}
	timeout(-1);
	return ch;
}

/* ---- prompts and search ---- */

static bool prompt(const char *what, char *buf, size_t len)
{
	int r;

	move(LINES - 1, 0);
	clrtoeol();
	addstr(what);
	echo();
	curs_set(1);
	r = getnstr(buf, (int)len - 1);
	noecho();
	curs_set(0);
	return r == OK && buf[0];
}

/* "1234", "0x4d2", "50%": an offset into the file. */
static bool parse_pos(const char *t, uint64_t *out)
{
	char *end;
	double pct;

	if (strchr(t, '%')) {
		pct = strtod(t, &end);
		if (*end != '%' || pct < 0 || pct > 100)
			return false;
		*out = v.size ? (uint64_t)(pct / 100.0 * (double)(v.size - 1)) : 0;
		return true;
	}
	*out = strtoull(t, &end, 0);
	return end != t && !*end;
}

static bool progress(uint64_t pos)
{
	int ch;

	mvprintw(LINES - 1, 0, " searching... %5.1f%%  (any key cancels)",
		 v.size ? (double)(pos > v.size ? v.size : pos) * 100.0 /
				  (double)v.size : 100.0);
	clrtoeol();
	refresh();
	nodelay(stdscr, TRUE);
	ch = getch();
	nodelay(stdscr, FALSE);
	return ch != ERR;
}

static void do_search(bool forward)
{
	uint64_t from, hit;
	int r;

	if (forward)
		from = s.have_match ? s.match + 1 : s.top;
	else
		from = s.have_match ? s.match : s.top;
	r = search(&s.pat, from, forward, &hit, progress);
	if (r == 1) {
		s.match = hit;
		s.have_match = true;
		go_to(hit);
		snprintf(s.msg, sizeof(s.msg), "found at offset %llu",
			 (unsigned long long)hit);
	} else if (r == 2) {
		snprintf(s.msg, sizeof(s.msg), "search cancelled");
	} else if (r < 0) {
		snprintf(s.msg, sizeof(s.msg), "file truncated: bytes from "
			 "%llu are gone", (unsigned long long)v.vanished);
	} else {
		snprintf(s.msg, sizeof(s.msg), "pattern not found %s",
			 forward ? "after here" : "before here");
	}
}

static void new_search(bool forward)
{
	char buf[300];
	bool hex;

	if (!prompt(forward ? "/" : "?", buf, sizeof(buf)))
		return;
	hex = !strncmp(buf, "x:", 2);
	if (pattern_parse(&s.pat, hex ? buf + 2 : buf, hex)) {
		snprintf(s.msg, sizeof(s.msg), "bad pattern (hex: x:de ad be ef)");
		return;
	}
	s.have_pat = true;
	s.pat_fwd = forward;
	s.have_match = false;
	do_search(forward);
}

static const char help[] =
	"q quit  j/k line  space/b page  d/u half  g/G start/end  "
	":pos (123, 0x7b, 50%)  x hex  w wrap/cut  / ? search (x:hex)  n/N";

static bool key(int ch)
{
	char buf[64];
	uint64_t off;

	s.msg[0] = 0;
	switch (ch) {
	case 'q': case 'Q': return false;
	case 'j': case KEY_DOWN: case '\n': case KEY_ENTER: scroll_rows(1); break;
	case 'k': case KEY_UP: scroll_rows(-1); break;
	case ' ': case 'f': case KEY_NPAGE: case 6: scroll_rows(rows() - 1); break;
	case 'b': case KEY_PPAGE: case 2: scroll_rows(-(rows() - 1)); break;
	case 'd': case 4: scroll_rows(rows() / 2); break;
	case 'u': case 21: scroll_rows(-(rows() / 2)); break;
	case 'g': case '<': case KEY_HOME: s.top = 0; break;
	case 'G': case '>': case KEY_END: go_end(); break;
	case 'x': case '\t':
		s.hex = !s.hex;
		go_to(s.top);
		break;
	case 'w': s.cut = !s.cut; go_to(s.top); break;
	case ':': case 'o':
		if (prompt("offset or percent: ", buf, sizeof(buf))) {
			if (parse_pos(buf, &off))
				go_to(off);
			else
				snprintf(s.msg, sizeof(s.msg), "not a position: %s",
					 buf);
		}
		break;
	case '/': new_search(true); break;
	case '?': new_search(false); break;
	case 'n': case 'N':
		if (s.have_pat)
			do_search(ch == 'n' ? s.pat_fwd : !s.pat_fwd);
		break;
	case 'h': case 'H': snprintf(s.msg, sizeof(s.msg), "%s", help); break;
	case KEY_RESIZE: break;
	default: break;
	}
	return true;
}

int ui_run(void)
{
	int ch;

	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	for (;;) {
		view_check_size();
		if (v.size && s.top >= v.size)
			go_end();
		draw();
		ch = next_key();
		if (!key(ch))
			break;
	}
	endwin();
	return 0;
}
