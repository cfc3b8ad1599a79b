/* SPDX-License-Identifier: MIT */
/*
 * ui.c - the full-screen viewer: text view (tabs expanded, wrap or cut,
 * markers for bytes that are not printable UTF-8) and hex view, less/vim
 * keys, offset/percent jumps, search with progress and cancel, and a
 * status bar with live cache statistics.
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

static struct {
	uint64_t top;		/* offset of the first row */
	bool hex, cut;
	struct pattern pat;
	bool have_pat, pat_fwd;
	uint64_t match;		/* last match, for n/N */
	bool have_match;
	char msg[256];
} s;

static unsigned char rowbuf[MAX_LINE + 16];

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
			if (l == 1 && (c < 0x20 || c >= 0x7f)) {
				attron(A_REVERSE);
				addch('.');
				attroff(A_REVERSE);
			} else {
				addnstr((const char *)rowbuf + i, (int)l);
			}
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
		for (i = 0; i < 16; i++)
			if (i < n)
				printw("%s%02x", i == 8 ? "  " : " ", b[i]);
			else
				printw("%s  ", i == 8 ? "  " : " ");
		addstr("  |");
		for (i = 0; i < n; i++)
			addch(b[i] >= 0x20 && b[i] < 0x7f ? b[i] : '.');
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
	if (s.hex)
		draw_hex();
	else
		draw_text();
	draw_status();
	refresh();
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
		ch = getch();
		if (ch == ERR)
			continue;
		if (!key(ch))
			break;
	}
	endwin();
	return 0;
}
