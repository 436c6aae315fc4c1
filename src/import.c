/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `vfiohook import`: from the passthrough tutorial's hooks to vfiohook's settings, reversibly.
 *
 * What the tutorial left in /etc/libvirt/hooks: its bash dispatcher as qemu (it runs every
 * executable of qemu.d/$GUEST_NAME/$HOOK_NAME/$STATE_NAME/), a shell-style kvm.conf
 * (VIRSH_GPU_VIDEO=pci_0000_09_00_0, VM_MEMORY=16384) that the scripts source, and per-VM
 * scripts in qemu.d/VM/prepare/begin/ and qemu.d/VM/release/end/ that stop the display
 * manager, unbind the consoles and the framebuffer, unload the GPU modules, `virsh
 * nodedev-detach` the devices, allocate hugepages and set the governor, and the reverse.
 *
 * Each script is read as a list of statements (a line, or a compound command up to its
 * fi/done) and each statement matched against the patterns those scripts use. A prepare
 * statement that matches becomes a setting of the VM's block in the new kvm.conf; a release
 * statement is taken over when it undoes a setting that prepare made (vfiohook undoes its
 * stages on release by itself, exactly). Comments, echo, set -x and sleep are dropped.
 * Anything else stays in a script: nothing is dropped silently. A script all of whose
 * statements were taken over is moved to the backup; one with statements left is replaced by
 * a script with only those. The dispatcher and the old kvm.conf go to the backup too. The
 * backup keeps the relative layout and has a manifest of every file moved, replaced or
 * created (mode, owner, and a hash of the contents before and after), written before the first
 * change, so that --undo puts everything back exactly, and refuses when something changed
 * since; an import that fails half way is undone by the same code.
 */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "domain.h"
#include "hook.h"
#include "host.h"
#include "import.h"
#include "log.h"
#include "pciaddr.h"

#define HOOKS "/etc/libvirt/hooks"
#define BACKUP_PREFIX "vfiohook-import-"
#define MANIFEST "vfiohook-import.manifest"
#define MANIFEST_MAGIC "# vfiohook import manifest 1"
#define FILE_MAX (1024 * 1024)
#define MAX_PCI 64

/* --- text --------------------------------------------------------------------------------- */

struct buf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = MAX(b->cap * 2, b->len + n + 256);
		char *ns = realloc(b->s, cap);
		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...) _printf_(2, 3);
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	buf_add(b, s, (size_t)n);
	free(s);
}

static const char *buf_str(const struct buf *b)
{
	return b->s ? b->s : "";
}

static void buf_done(struct buf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

/* The text, handed over; NULL when memory ran out on the way. */
static char *buf_take(struct buf *b)
{
	char *s;

	if (b->oom) {
		buf_done(b);
		return NULL;
	}
	s = b->s ? b->s : strdup("");
	memset(b, 0, sizeof(*b));
	return s;
}

struct strv {
	char **v;
	size_t n;
	bool oom;
};

static bool sv_has(const struct strv *s, const char *x)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->v[i], x))
			return true;
	return false;
}

static void sv_add(struct strv *s, const char *x)
{
	char **nv;

	if (s->oom)
		return;
	nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
	if (!nv || !(nv[s->n] = strdup(x))) {
		if (nv)
			s->v = nv;
		s->oom = true;
		return;
	}
	s->v = nv;
	s->n++;
}

static void sv_add_unique(struct strv *s, const char *x)
{
	if (!sv_has(s, x))
		sv_add(s, x);
}

static void sv_done(struct strv *s)
{
	strv_free(s->v, s->n);
	memset(s, 0, sizeof(*s));
}

static uint64_t fnv(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Extended regular expressions, each compiled once. */
static struct {
	const char *pat;
	regex_t r;
	bool ok;
} res[96];
static size_t n_res;

static bool re(const char *pat, const char *s, regmatch_t *m, size_t nm)
{
	size_t i;

	for (i = 0; i < n_res; i++)
		if (res[i].pat == pat || streq(res[i].pat, pat))
			break;
	if (i == n_res) {
		if (n_res == ELEMENTSOF(res))
			return false;
		res[i].pat = pat;
		res[i].ok = regcomp(&res[i].r, pat, REG_EXTENDED) == 0;
		n_res++;
	}
	return res[i].ok && regexec(&res[i].r, s, nm, m, 0) == 0;
}

static void re_done(void)
{
	for (size_t i = 0; i < n_res; i++)
		if (res[i].ok)
			regfree(&res[i].r);
	n_res = 0;
}

/* Capture m of s, in a new string ("" when it did not take part). */
static char *cap(const char *s, const regmatch_t *m)
{
	if (m->rm_so < 0)
		return strdup("");
	return strndup(s + m->rm_so, (size_t)(m->rm_eo - m->rm_so));
}

static void cap_to(char *dst, size_t size, const char *s, const regmatch_t *m)
{
	size_t l = m->rm_so < 0 ? 0 : (size_t)(m->rm_eo - m->rm_so);

	if (l >= size)
		l = size - 1;
	memcpy(dst, s + (m->rm_so < 0 ? 0 : m->rm_so), l);
	dst[l] = '\0';
}

/*
 * A line as the patterns see it: the comment cut off, runs of blanks outside quotes made one
 * space (a backslash-newline is a blank), none at either end.
 */
static char *normalize(const char *s, size_t n)
{
	struct buf b = { 0 };
	char q = 0, prev = ' ';

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (q == '\'') {
			if (c == '\'')
				q = 0;
		} else if (c == '\\' && i + 1 < n && s[i + 1] == '\n') {
			i++;
			c = ' ';
		} else if (c == '\\' && i + 1 < n) {
			buf_add(&b, s + i, 2);
			prev = s[++i];
			continue;
		} else if (q == '"') {
			if (c == '"')
				q = 0;
		} else if (c == '#' && (isspace((unsigned char)prev) || strchr(";&|()", prev))) {
			while (i + 1 < n && s[i + 1] != '\n')
				i++;
			continue;
		} else if (c == '\'' || c == '"')
			q = c;
		if (!q && isspace((unsigned char)c)) {
			if (b.len && b.s[b.len - 1] != ' ')
				buf_add(&b, " ", 1);
			prev = ' ';
			continue;
		}
		buf_add(&b, &c, 1);
		prev = c;
	}
	while (b.len && b.s[b.len - 1] == ' ')
		b.s[--b.len] = '\0';
	return buf_take(&b);
}

/* Does p have one of set outside quotes? */
static bool has_unquoted(const char *p, const char *set)
{
	char q = 0;

	for (; *p; p++) {
		if (q == '\'') {
			if (*p == '\'')
				q = 0;
		} else if (*p == '\\' && p[1])
			p++;
		else if (q == '"') {
			if (*p == '"')
				q = 0;
		} else if (*p == '\'' || *p == '"')
			q = *p;
		else if (strchr(set, *p))
			return true;
	}
	return false;
}

/*
 * The simple commands of a normalised line: split at ';' outside quotes and parentheses, with
 * a leading do/then/else (and "{") split off as words of their own.
 */
static void split_pieces(const char *s, struct strv *out)
{
	size_t start = 0, n = strlen(s);
	int depth = 0;
	char q = 0;

	for (size_t i = 0; i <= n; i++) {
		char c = s[i];
		bool cut = c == '\0';

		if (!cut) {
			if (q == '\'') {
				if (c == '\'')
					q = 0;
				continue;
			}
			if (c == '\\' && s[i + 1]) {
				i++;
				continue;
			}
			if (q == '"') {
				if (c == '"')
					q = 0;
				else if (c == '$' && s[i + 1] == '(')
					depth++, i++;
				else if (c == ')' && depth > 0)
					depth--;
				continue;
			}
			if (c == '\'' || c == '"')
				q = c;
			else if (c == '(')
				depth++;
			else if (c == ')' && depth > 0)
				depth--;
			else if (c == ';' && depth == 0)
				cut = true;
		}
		if (!cut)
			continue;
		{
			const char *p = s + start;
			size_t l = i - start;

			while (l && *p == ' ')
				p++, l--;
			while (l && p[l - 1] == ' ')
				l--;
			for (;;) {
				static const char *const kw[] = { "do ", "then ", "else ", "{ " };
				bool peeled = false;
				for (size_t k = 0; k < ELEMENTSOF(kw); k++) {
					size_t kl = strlen(kw[k]);
					if (l > kl && strncmp(p, kw[k], kl) == 0) {
						char w[8];
						snprintf(w, sizeof(w), "%.*s", (int)kl - 1, kw[k]);
						sv_add(out, w);
						p += kl;
						l -= kl;
						peeled = true;
					}
				}
				if (!peeled)
					break;
			}
			if (l) {
				char *piece = strndup(p, l);
				if (piece)
					sv_add(out, piece);
				else
					out->oom = true;
				free(piece);
			}
		}
		if (c == ';' && s[i + 1] == ';')
			i++;
		start = i + 1;
	}
}

/*
 * The shell's view of one line, enough to find where a statement ends: compound commands
 * opened and closed (if/fi, while/for/until/select/done, case/esac, { }), a trailing
 * backslash, a here-document.
 */
static void scan_line(const char *s, size_t l, int *depth, int *maxdepth, bool *cont, char **delim)
{
	_cleanup_free_ char *n = normalize(s, l);
	bool cmdpos = true, want_delim = false;
	size_t i = 0;

	*cont = l > 0 && s[l - 1] == '\\' && n && n[0] && n[strlen(n) - 1] == '\\';
	if (!n)
		return;
	while (n[i]) {
		char word[64];
		size_t wl = 0, start;
		char q = 0;
		int par = 0;

		if (n[i] == ' ') {
			i++;
			continue;
		}
		if (strchr(";&|()", n[i])) {
			cmdpos = true;
			i++;
			continue;
		}
		start = i;
		for (; n[i]; i++) {
			char c = n[i];
			if (q == '\'') {
				if (c == '\'')
					q = 0;
			} else if (c == '\\' && n[i + 1])
				i++;
			else if (q == '"') {
				if (c == '"')
					q = 0;
			} else if (c == '\'' || c == '"')
				q = c;
			else if (c == '$' && n[i + 1] == '(')
				par++, i++;
			else if (c == ')' && par > 0)
				par--;
			else if (par == 0 && (c == ' ' || strchr(";&|()", c)))
				break;
		}
		wl = i - start;
		snprintf(word, sizeof(word), "%.*s", (int)MIN(wl, sizeof(word) - 1), n + start);
		if (!*delim && (want_delim || (strncmp(word, "<<", 2) == 0 && word[2] != '<'))) {
			const char *d = want_delim ? word : word + 2;
			if (!want_delim && *d == '-')
				d++;
			want_delim = !*d; /* "<< EOF": the next word */
			if (*d) {
				char *dd = strdup(d), *w = dd;
				if (dd) {
					for (char *r = dd; *r; r++)
						if (*r != '\'' && *r != '"' && *r != '\\')
							*w++ = *r;
					*w = '\0';
				}
				*delim = dd;
			}
		}
		if (cmdpos && (streq(word, "if") || streq(word, "while") || streq(word, "until"))) {
			(*depth)++;
			cmdpos = true;
		} else if (cmdpos && (streq(word, "for") || streq(word, "case") || streq(word, "select"))) {
			(*depth)++;
			cmdpos = false;
		} else if (cmdpos && (streq(word, "fi") || streq(word, "done") || streq(word, "esac") ||
				      streq(word, "}"))) {
			if (*depth > 0)
				(*depth)--;
			cmdpos = false;
		} else if (streq(word, "{")) {
			(*depth)++;
			cmdpos = true;
		} else if (cmdpos && (streq(word, "then") || streq(word, "do") || streq(word, "else") ||
				      streq(word, "elif") || streq(word, "!")))
			cmdpos = true;
		else
			cmdpos = false;
		if (*depth > *maxdepth)
			*maxdepth = *depth;
	}
}

/* --- the tutorial's kvm.conf ------------------------------------------------------------- */

struct svar {
	char *name, *value, *text;
	unsigned line;
	bool used;
	const char *use; /* what it became, for the report */
};

enum conf_kind { C_NONE, C_SHELL, C_OURS };

struct shconf {
	enum conf_kind kind;
	struct stat st;
	char *text;
	struct svar *v;
	size_t n;
	struct strv other; /* "LINE: text" of lines that set no variable */
};

static struct svar *svar_find(struct shconf *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->v[i].name, name))
			return &c->v[i];
	return NULL;
}

/* Reads the variables of a shell-style kvm.conf; C_OURS when it sets none (vfiohook's own). */
static int shconf_parse(struct shconf *c)
{
	const char *p = c->text;
	unsigned line = 0;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t l = eol ? (size_t)(eol - p) : strlen(p);
		_cleanup_free_ char *n = normalize(p, l);
		regmatch_t m[4];

		line++;
		p += l + (eol ? 1 : 0);
		if (!n)
			return -ENOMEM;
		if (!n[0])
			continue;
		if (re("^(export )?([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|[^ \"']*)$", n, m, 4)) {
			struct svar *nv = realloc(c->v, (c->n + 1) * sizeof(*nv)), *v;
			char *val;
			if (!nv)
				return -ENOMEM;
			c->v = nv;
			v = &c->v[c->n];
			memset(v, 0, sizeof(*v));
			v->name = cap(n, &m[2]);
			val = cap(n, &m[3]);
			v->text = strndup(p - l - (eol ? 1 : 0), l);
			v->line = line;
			if (val && (val[0] == '"' || val[0] == '\'')) {
				v->value = strndup(val + 1, strlen(val) - 2);
				free(val);
			} else
				v->value = val;
			c->n++;
			if (!v->name || !v->value || !v->text)
				return -ENOMEM;
		} else {
			char *o;
			if (asprintf(&o, "%u: %s", line, n) < 0)
				return -ENOMEM;
			sv_add(&c->other, o);
			free(o);
		}
	}
	c->kind = c->n ? C_SHELL : C_OURS;
	return c->other.oom ? -ENOMEM : 0;
}

static void shconf_done(struct shconf *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].value);
		free(c->v[i].text);
	}
	free(c->v);
	free(c->text);
	sv_done(&c->other);
}

/* "pci_0000_09_00_0" (virsh's node device name) to an address. */
static bool nodedev_addr(const char *s, struct pci_addr *a)
{
	regmatch_t m[5];
	char buf[16];

	if (!re("^pci_([0-9a-fA-F]{4})_([0-9a-fA-F]{2})_([0-9a-fA-F]{2})_([0-7])$", s, m, 5))
		return false;
	snprintf(buf, sizeof(buf), "%.4s:%.2s:%.2s.%.1s", s + m[1].rm_so, s + m[2].rm_so, s + m[3].rm_so,
		 s + m[4].rm_so);
	return pci_addr_parse(buf, a) == 0;
}

bool import_is_tutorial_dispatcher(const char *text)
{
	if (strncmp(text, "#!", 2) != 0 || !strstr(text, "qemu.d"))
		return false;
	return strstr(text, "HOOKPATH") || (strstr(text, "GUEST_NAME") && strstr(text, "STATE_NAME")) ||
	       strstr(text, "$1/$2/$3") || strstr(text, "${1}/${2}/${3}");
}

/* --- scripts ------------------------------------------------------------------------------ */

enum kind {
	K_NOISE,  /* blank, comment, echo, set -x, cat of /sys or /proc, true */
	K_SLEEP,  /* the stages wait for what they need instead */
	K_EXIT0,  /* exit 0 at the end */
	K_SETUP,  /* set -e and the like: kept with the lines left, not a line left itself */
	K_SOURCE, /* source kvm.conf: replaced by the variables the script uses */
	K_UNIT_STOP,
	K_UNIT_START,
	K_VTCON_UNBIND,
	K_VTCON_BIND,
	K_FB_UNBIND,
	K_FB_BIND,
	K_MOD_UNLOAD,
	K_MOD_LOAD,
	K_VFIO_LOAD,
	K_VFIO_UNLOAD,
	K_DETACH,
	K_REATTACH,
	K_HP_CALC,
	K_HP_ALLOC,
	K_HP_PART,
	K_HP_FREE,
	K_GOVERNOR,
	K_AUDIO,  /* the user's audio server: no setting for it yet */
	K_UNKNOWN,
};

enum fate {
	F_DROP,    /* not needed */
	F_CONVERT, /* now a setting */
	F_SETUP,   /* shell setup: kept with what is left */
	F_KEEP,    /* kept: known, no setting for it */
	F_PERSON,  /* kept: not understood, or not safe to take over */
};

struct stmt {
	char *text; /* as written, lines with their newlines */
	unsigned line, n_lines;
	bool block, incomplete;
	enum kind kind;
	enum fate fate;
	struct strv words; /* units or modules */
	char var[64];      /* DETACH/REATTACH: the variable ($VIRSH_GPU_VIDEO); HP_CALC: the memory one */
	bool have_addr;
	struct pci_addr addr;
	uint64_t number;   /* HP_ALLOC: a literal count; 0: $HUGEPAGES */
	uint64_t size_kib; /* HP_ALLOC: from a per-size pool's path */
	bool default_size; /* HP_CALC: divides by the kernel's Hugepagesize */
	bool drop_caches;  /* HP_PART */
	char gov[32];
	char *why; /* what it became, or why it stays */
};

enum sfate { S_LEAVE, S_MOVE, S_REPLACE, S_SOURCE };

struct script {
	char *rel;  /* below the hooks directory */
	char *name; /* below the VM's directory: prepare/begin/start.sh */
	char *path;
	struct stat st;
	char *text;
	size_t len;
	bool release, other, shell;
	char *shebang;
	struct stmt *s;
	size_t n;
	unsigned n_conv, n_kept, n_source;
	enum sfate fate;
	char *newtext;
	char *note; /* why it is left, and the like */
};

enum setting { SET_HP, SET_DISPLAY, SET_VTCON, SET_FB, SET_MODULES, SET_PCI, SET_GOV, _SET_MAX };
static const char *const setting_key[_SET_MAX] = {
	[SET_HP] = "hugepages",	     [SET_DISPLAY] = "display.units", [SET_VTCON] = "vtconsole",
	[SET_FB] = "framebuffer",    [SET_MODULES] = "modules.unload", [SET_PCI] = "pci.devices",
	[SET_GOV] = "governor",
};

struct vmi {
	char *name;
	struct script *sc;
	size_t n_sc;
	struct strv from[_SET_MAX]; /* the scripts each setting came from */
	bool undone[_SET_MAX];      /* release had the reverse */
	struct strv units, modules, pci_vars, notes, left;
	bool vtconsole, framebuffer;
	struct pci_addr pci[MAX_PCI];
	size_t n_pci;
	bool hp, hp_auto, hp_drop;
	uint64_t hp_pages, hp_size_kib;
	char hp_from[128];
	char governor[32], release_governor[32];
};

enum qemu_kind { Q_NONE, Q_DISPATCHER, Q_VFIOHOOK, Q_OTHER };

struct import {
	const struct options *o;
	char *hooks, *qemu_path, *conf_path;
	enum qemu_kind qemu;
	struct stat qemu_st;
	struct shconf conf;
	uint64_t conf_hash;
	struct vmi *vms;
	size_t n_vms;
	struct strv notes;
	uint64_t default_kib;
	char stamp[40], when[32];
	char *backup, *backup_name;
	char *newconf;
};

static void stmt_why(struct stmt *st, enum fate f, const char *fmt, ...) _printf_(3, 4);
static void stmt_why(struct stmt *st, enum fate f, const char *fmt, ...)
{
	va_list ap;

	st->fate = f;
	free(st->why);
	st->why = NULL;
	if (!fmt)
		return;
	va_start(ap, fmt);
	if (vasprintf(&st->why, fmt, ap) < 0)
		st->why = NULL;
	va_end(ap);
}

static bool is_vfio_module(const char *m)
{
	return streq(m, "vfio") || streq(m, "vfio_pci") || streq(m, "vfio_iommu_type1") ||
	       streq(m, "vfio_virqfd") || streq(m, "vfio_pci_core");
}

/* A unit as kvm.conf names it: display-manager(.service) is "auto", no suffix is a service. */
static char *unit_norm(const char *w)
{
	static const char *const types[] = { "service", "socket", "target", "device", "mount", "automount",
					     "swap",	"timer",  "path",   "slice",  "scope" };
	const char *dot = strrchr(w, '.');
	bool typed = false;
	char *u;

	for (size_t i = 0; dot && i < ELEMENTSOF(types); i++)
		typed |= streq(dot + 1, types[i]);
	if (asprintf(&u, typed ? "%s" : "%s.service", w) < 0)
		return NULL;
	if (streq(u, "display-manager.service")) {
		free(u);
		return strdup("auto");
	}
	return u;
}

/* Words after the first skip words of p, as module names (dashes made underscores). */
static bool module_words(const char *p, size_t skip, struct strv *out)
{
	_cleanup_free_ char *copy = strdup(p);
	char *save = NULL, *w;
	size_t i = 0;

	if (!copy)
		return false;
	for (w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save), i++) {
		if (i < skip)
			continue;
		if (strlen(w) > 55)
			return false;
		for (char *c = w; *c; c++) {
			if (*c == '-')
				*c = '_';
			else if (!isalnum((unsigned char)*c) && *c != '_')
				return false;
		}
		sv_add(out, w);
	}
	return out->n > 0 && !out->oom;
}

#define Q "\"?"
#define NR_PATH "(/proc/sys/vm/nr_hugepages|/sys/kernel/mm/hugepages/hugepages-([0-9]+)kB/nr_hugepages)"
#define GOV_PATH "/sys/devices/system/cpu/(cpu\\*/cpufreq|cpufreq/policy\\*)/scaling_governor"
#define HP_VAR "\\$\\{?HUGEPAGES\\}?"

static bool is_log_line(const char *p)
{
	if (!(strncmp(p, "echo", 4) == 0 && (p[4] == ' ' || !p[4])) && strncmp(p, "printf ", 7) != 0)
		return false;
	if (strstr(p, "$(") || strchr(p, '`'))
		return false;
	return !has_unquoted(p, "<>|&;");
}

/* The hugepage pieces of the tutorial's allocation script, loops and failure branch aside. */
static enum kind hp_piece(const char *p, struct stmt *st)
{
	regmatch_t m[4];

	if (re("^echo " Q HP_VAR Q " > " Q NR_PATH Q "$", p, m, 4) ||
	    re("^sysctl (-w |-q )?vm\\.nr_hugepages=" Q HP_VAR Q "$", p, NULL, 0)) {
		st->number = 0;
		if (strncmp(p, "echo", 4) == 0 && m[2].rm_so >= 0)
			st->size_kib = strtoull(p + m[2].rm_so, NULL, 10);
		return K_HP_ALLOC;
	}
	if (re("^echo " Q "([0-9]+)" Q " > " Q NR_PATH Q "$", p, m, 4)) {
		st->number = strtoull(p + m[1].rm_so, NULL, 10);
		if (m[3].rm_so >= 0)
			st->size_kib = strtoull(p + m[3].rm_so, NULL, 10);
		return st->number ? K_HP_ALLOC : K_HP_FREE;
	}
	if (re("^sysctl (-w |-q )?vm\\.nr_hugepages=" Q "([0-9]+)" Q "$", p, m, 3)) {
		st->number = strtoull(p + m[2].rm_so, NULL, 10);
		return st->number ? K_HP_ALLOC : K_HP_FREE;
	}
	if (re("^echo " Q "3" Q " > " Q "/proc/sys/vm/drop_caches" Q "$", p, NULL, 0) ||
	    re("^sysctl (-w |-q )?vm\\.drop_caches=3$", p, NULL, 0)) {
		st->drop_caches = true;
		return K_HP_PART;
	}
	if (re("^ALLOC_PAGES=" Q "\\$\\(cat /proc/sys/vm/nr_hugepages\\)" Q "$", p, NULL, 0) ||
	    re("^TRIES=0$", p, NULL, 0) || re("^let " Q "TRIES ?(\\+= ?1|= ?TRIES ?\\+ ?1)" Q "$", p, NULL, 0) ||
	    re("^\\(\\( ?TRIES ?(\\+\\+|\\+= ?1) ?\\)\\)$", p, NULL, 0) ||
	    re("^TRIES=" Q "\\$\\(\\( ?\\$?TRIES ?\\+ ?1 ?\\)\\)" Q "$", p, NULL, 0) ||
	    re("^echo " Q "1" Q " > " Q "/proc/sys/vm/compact_memory" Q "$", p, NULL, 0) ||
	    re("^sysctl (-w |-q )?vm\\.compact_memory=1$", p, NULL, 0) || streq(p, "sync"))
		return K_HP_PART;
	return K_UNKNOWN;
}

/* One simple command. */
static enum kind piece_kind(const char *p, struct stmt *st)
{
	regmatch_t m[6];
	enum kind k;

	if (!*p || streq(p, ":") || streq(p, "true") || is_log_line(p))
		return K_NOISE;
	if (re("^set( [-+][a-zA-Z]+| [-+]o [a-z]+)+$", p, NULL, 0))
		return re("^set( -x| -o xtrace)+$", p, NULL, 0) ? K_NOISE : K_SETUP;
	if (re("^sleep [0-9]+(\\.[0-9]+)?[smh]?$", p, NULL, 0))
		return K_SLEEP;
	if (streq(p, "exit 0") || streq(p, "exit"))
		return K_EXIT0;
	if (re("^cat( (/sys|/proc)/[^ ;&|<>$`]+)+$", p, NULL, 0))
		return K_NOISE;
	if (re("^(source|\\.) " Q "([^\" ]*/)?kvm\\.conf" Q "$", p, NULL, 0))
		return K_SOURCE;

	if (re("^(systemctl|service) ", p, NULL, 0)) {
		_cleanup_free_ char *copy = strdup(p);
		char *save = NULL, *w;
		bool stop, service = strncmp(p, "service ", 8) == 0;

		if (!copy)
			return K_UNKNOWN;
		if (service) {
			if (!re("^service [^ -][^ ]* (stop|start)$", p, m, 2))
				return K_UNKNOWN;
			stop = p[m[1].rm_so + 2] == 'o';
			w = strtok_r(copy + 8, " ", &save);
			if (w) {
				_cleanup_free_ char *u = unit_norm(w);
				if (!u || !unit_name_is_valid(u))
					return K_UNKNOWN;
				sv_add(&st->words, u);
			}
		} else {
			if (!re("^systemctl (stop|start)( [^ -][^ ]*)+$", p, NULL, 0))
				return K_UNKNOWN;
			stop = strncmp(p, "systemctl stop", 14) == 0;
			strtok_r(copy, " ", &save);
			strtok_r(NULL, " ", &save);
			while ((w = strtok_r(NULL, " ", &save))) {
				_cleanup_free_ char *u = NULL;
				size_t wl = strlen(w);
				if (wl >= 2 && (w[0] == '"' || w[0] == '\'') && w[wl - 1] == w[0]) {
					w[wl - 1] = '\0';
					w++;
				}
				u = unit_norm(w);
				if (!u || !unit_name_is_valid(u))
					return K_UNKNOWN;
				sv_add(&st->words, u);
			}
		}
		return st->words.n && !st->words.oom ? (stop ? K_UNIT_STOP : K_UNIT_START) : K_UNKNOWN;
	}
	if (re("^echo " Q "([01])" Q " > " Q "/sys/class/vtconsole/vtcon[0-9]+/bind" Q "$", p, m, 2) ||
	    re("^echo " Q "([01])" Q " \\| (sudo )?tee( -a)? " Q "/sys/class/vtconsole/vtcon[0-9]+/bind" Q
	       "( > /dev/null)?$", p, m, 2))
		return p[m[1].rm_so] == '0' ? K_VTCON_UNBIND : K_VTCON_BIND;
	if (re("^echo " Q "(efi|simple|vesa)-framebuffer\\.[0-9]+" Q " > " Q
	       "/sys/bus/platform/drivers/(efi|simple|vesa)-framebuffer/(un)?bind" Q "$", p, m, 4))
		return m[3].rm_so >= 0 ? K_FB_UNBIND : K_FB_BIND;

	if (re("^modprobe (-r|--remove)( [A-Za-z0-9_-]+)+$", p, NULL, 0) || re("^rmmod( [A-Za-z0-9_-]+)+$", p, NULL, 0) ||
	    re("^modprobe (-a )?[A-Za-z0-9_-]+$", p, NULL, 0) || re("^modprobe -a( [A-Za-z0-9_-]+)+$", p, NULL, 0)) {
		bool unload = strncmp(p, "rmmod", 5) == 0 || strncmp(p, "modprobe -r", 11) == 0 ||
			      strncmp(p, "modprobe --remove", 17) == 0;
		bool opt = strncmp(p, "modprobe -", 10) == 0;
		size_t vfio = 0;

		if (!module_words(p, opt ? 2 : 1, &st->words))
			return K_UNKNOWN;
		for (size_t i = 0; i < st->words.n; i++)
			vfio += is_vfio_module(st->words.v[i]);
		if (vfio == st->words.n)
			return unload ? K_VFIO_UNLOAD : K_VFIO_LOAD;
		if (vfio)
			return K_UNKNOWN;
		return unload ? K_MOD_UNLOAD : K_MOD_LOAD;
	}
	if (re("^virsh nodedev-(detach|dettach|reattach) " Q "(\\$\\{?([A-Za-z_][A-Za-z0-9_]*)\\}?|pci_[0-9a-fA-F]{4}_[0-9a-fA-F]{2}_[0-9a-fA-F]{2}_[0-7])" Q "$",
	       p, m, 4)) {
		k = p[m[1].rm_so] == 'r' ? K_REATTACH : K_DETACH;
		if (m[3].rm_so >= 0)
			cap_to(st->var, sizeof(st->var), p, &m[3]);
		else {
			char dev[32];
			cap_to(dev, sizeof(dev), p, &m[2]);
			st->have_addr = nodedev_addr(dev, &st->addr);
		}
		return k;
	}

	if (re("^HUGEPAGES=.*MEMORY", p, NULL, 0)) {
		snprintf(st->var, sizeof(st->var), "%s",
			 strstr(p, "VM_MEMORY") ? "VM_MEMORY" : "MEMORY");
		st->default_size = strstr(p, "Hugepagesize") != NULL;
		return K_HP_CALC;
	}
	k = hp_piece(p, st);
	if (k != K_UNKNOWN)
		return k;

	if (re("^cpupower( -c [^ ]+)? frequency-set (-g|--governor) " Q "([a-z_]+)" Q "$", p, m, 4)) {
		cap_to(st->gov, sizeof(st->gov), p, &m[3]);
		return K_GOVERNOR;
	}
	if (re("^echo " Q "([a-z_]+)" Q " \\| (sudo )?tee( -a)? " GOV_PATH "( > /dev/null)?$", p, m, 2)) {
		cap_to(st->gov, sizeof(st->gov), p, &m[1]);
		return K_GOVERNOR;
	}

	if (strstr(p, "pulse") || strstr(p, "pipewire") || strstr(p, "wireplumber"))
		return K_AUDIO;
	return K_UNKNOWN;
}

/* The pieces of a statement: each line normalised and split. */
static int stmt_pieces(const struct stmt *st, struct strv *out)
{
	const char *p = st->text;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t l = eol ? (size_t)(eol - p) : strlen(p);
		_cleanup_free_ char *n = NULL;

		/* a backslash-newline continues the line */
		while (eol && l > 0 && p[l - 1] == '\\') {
			const char *e2 = strchr(eol + 1, '\n');
			l = e2 ? (size_t)(e2 - p) : strlen(p);
			eol = e2;
		}
		n = normalize(p, l);
		if (!n)
			return -ENOMEM;
		split_pieces(n, out);
		p += l + (eol ? 1 : 0);
	}
	return out->oom ? -ENOMEM : 0;
}

static void classify(struct stmt *st)
{
	struct strv pieces = { 0 };
	size_t real = 0, hp = 0, gov_loop = 0;
	regmatch_t m[3];

	if (st->incomplete || stmt_pieces(st, &pieces) < 0) {
		st->kind = K_UNKNOWN;
		sv_done(&pieces);
		return;
	}
	if (!st->block) {
		enum kind last = K_NOISE;
		for (size_t i = 0; i < pieces.n; i++) {
			struct stmt scratch = { 0 };
			enum kind k = piece_kind(pieces.v[i], &scratch);
			sv_done(&scratch.words);
			/* a sleep next to a step goes with it (dropped) */
			if (k == K_NOISE || (k == K_SLEEP && pieces.n > 1))
				continue;
			real++;
			hp += k == K_HP_PART;
			st->drop_caches |= scratch.drop_caches;
			last = k;
		}
		if (real == 0)
			st->kind = K_NOISE;
		else if (real == 1) {
			for (size_t i = 0; i < pieces.n; i++) {
				struct stmt scratch = { 0 };
				enum kind k = piece_kind(pieces.v[i], &scratch);
				sv_done(&scratch.words);
				if (k == K_NOISE || (k == K_SLEEP && pieces.n > 1))
					continue;
				st->kind = piece_kind(pieces.v[i], st);
				break;
			}
		} else if (hp == real)
			st->kind = K_HP_PART;
		else
			st->kind = last == K_AUDIO || strstr(st->text, "pulse") || strstr(st->text, "pipewire") ? K_AUDIO
														  : K_UNKNOWN;
		sv_done(&pieces);
		return;
	}

	/* for f in /sys/devices/system/cpu/cpu*\/cpufreq/scaling_governor; do echo G > $f; done */
	if (pieces.n >= 4 && re("^for ([A-Za-z_][A-Za-z0-9_]*) in " GOV_PATH "$", pieces.v[0], m, 2)) {
		char var[64], gov[32] = "";
		bool ok = streq(pieces.v[1], "do") && streq(pieces.v[pieces.n - 1], "done");
		cap_to(var, sizeof(var), pieces.v[0], &m[1]);
		for (size_t i = 2; ok && i + 1 < pieces.n; i++) {
			struct stmt scratch = { 0 };
			regmatch_t g[3];
			const char *p = pieces.v[i];
			if (piece_kind(p, &scratch) == K_NOISE)
				continue;
			if (re("^echo " Q "([a-z_]+)" Q " > " Q "\\$\\{?([A-Za-z_][A-Za-z0-9_]*)\\}?" Q "$", p, g, 3) &&
			    (size_t)(g[2].rm_eo - g[2].rm_so) == strlen(var) && strncmp(p + g[2].rm_so, var, strlen(var)) == 0 &&
			    !gov[0]) {
				cap_to(gov, sizeof(gov), p, &g[1]);
				gov_loop++;
			} else
				ok = false;
		}
		if (ok && gov_loop == 1) {
			st->kind = K_GOVERNOR;
			snprintf(st->gov, sizeof(st->gov), "%s", gov);
			sv_done(&pieces);
			return;
		}
	}

	/* the allocation loop and the failure branch of the hugepage script */
	st->kind = K_HP_PART;
	for (size_t i = 0; i < pieces.n && st->kind == K_HP_PART; i++) {
		const char *p = pieces.v[i];
		struct stmt scratch = { 0 };
		enum kind k;

		if (re("^(while|until|if|elif) .*(ALLOC_PAGES|HUGEPAGES|TRIES)", p, NULL, 0)) {
			hp++;
			continue;
		}
		if (streq(p, "do") || streq(p, "done") || streq(p, "then") || streq(p, "fi") || streq(p, "else") ||
		    streq(p, "exit 1"))
			continue;
		k = piece_kind(p, &scratch);
		sv_done(&scratch.words);
		if (k == K_NOISE)
			continue;
		if (k == K_HP_PART || k == K_HP_FREE || (k == K_HP_ALLOC && scratch.number == 0)) {
			hp++;
			st->drop_caches |= scratch.drop_caches;
			continue;
		}
		st->kind = K_UNKNOWN;
	}
	if (st->kind == K_HP_PART && !hp)
		st->kind = K_UNKNOWN;
	if (st->kind == K_UNKNOWN && (strstr(st->text, "pulse") || strstr(st->text, "pipewire")))
		st->kind = K_AUDIO;
	sv_done(&pieces);
}

static int parse_script(struct script *sc)
{
	const char *p = sc->text;
	unsigned line = 0;

	while (*p) {
		const char *start = p;
		struct stmt *ns, *st;
		char *delim = NULL;
		int depth = 0, maxdepth = 0;
		bool cont = false;
		unsigned first = line + 1;

		do {
			const char *eol = strchr(p, '\n');
			size_t l = eol ? (size_t)(eol - p) : strlen(p);

			line++;
			if (delim) {
				const char *t = p;
				size_t tl = l;
				while (tl && *t == '\t')
					t++, tl--;
				if (tl == strlen(delim) && strncmp(t, delim, tl) == 0) {
					free(delim);
					delim = NULL;
				}
				cont = false;
			} else {
				/* the shebang is a comment to the shell */
				scan_line(p, l, &depth, &maxdepth, &cont, &delim);
				if (delim)
					maxdepth = MAX(maxdepth, 1);
			}
			p += l + (eol ? 1 : 0);
		} while (*p && (depth > 0 || cont || delim));

		ns = realloc(sc->s, (sc->n + 1) * sizeof(*ns));
		if (!ns) {
			free(delim);
			return -ENOMEM;
		}
		sc->s = ns;
		st = &sc->s[sc->n++];
		memset(st, 0, sizeof(*st));
		st->line = first;
		st->n_lines = line - first + 1;
		st->block = maxdepth > 0;
		st->incomplete = depth > 0 || delim;
		free(delim);
		st->text = strndup(start, (size_t)(p - start));
		if (!st->text)
			return -ENOMEM;
		classify(st);
	}
	return 0;
}

static void stmt_done(struct stmt *st)
{
	free(st->text);
	free(st->why);
	sv_done(&st->words);
}

static void script_done(struct script *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		stmt_done(&sc->s[i]);
	free(sc->s);
	free(sc->rel);
	free(sc->name);
	free(sc->path);
	free(sc->text);
	free(sc->shebang);
	free(sc->newtext);
	free(sc->note);
}

static void vmi_done(struct vmi *vm)
{
	for (size_t i = 0; i < vm->n_sc; i++)
		script_done(&vm->sc[i]);
	free(vm->sc);
	for (size_t i = 0; i < _SET_MAX; i++)
		sv_done(&vm->from[i]);
	sv_done(&vm->units);
	sv_done(&vm->modules);
	sv_done(&vm->pci_vars);
	sv_done(&vm->notes);
	sv_done(&vm->left);
	free(vm->name);
}

/* Is the interpreter of #! a shell? A script without one is run by bash's fallback. */
static bool shebang_is_shell(const char *line)
{
	static const char *const shells[] = { "sh", "bash", "dash", "ksh", "zsh", "busybox" };
	_cleanup_free_ char *copy = strdup(line + 2);
	char *save = NULL, *w;
	const char *base;

	if (!copy)
		return false;
	w = strtok_r(copy, " \t", &save);
	if (!w)
		return false;
	base = strrchr(w, '/') ? strrchr(w, '/') + 1 : w;
	if (streq(base, "env"))
		w = strtok_r(NULL, " \t", &save), base = w ? w : "";
	for (size_t i = 0; i < ELEMENTSOF(shells); i++)
		if (streq(base, shells[i]))
			return true;
	return false;
}

/* Reads one script; a file that is not a shell script is noted and left. */
static int add_script(struct import *im, struct vmi *vm, const char *rel, const char *name, bool release,
		      bool other)
{
	struct script *ns, *sc;
	int r;

	ns = realloc(vm->sc, (vm->n_sc + 1) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	vm->sc = ns;
	sc = &vm->sc[vm->n_sc++];
	memset(sc, 0, sizeof(*sc));
	sc->release = release;
	sc->other = other;
	sc->rel = strdup(rel);
	sc->name = strdup(name);
	if (!sc->rel || !sc->name || asprintf(&sc->path, "%s/%s", im->hooks, rel) < 0) {
		sc->path = NULL;
		return -ENOMEM;
	}
	if (lstat(sc->path, &sc->st) < 0)
		return negative_errno();
	r = host_read_file(sc->path, FILE_MAX, &sc->text);
	if (r < 0) {
		if (asprintf(&sc->note, "cannot be read (%s): left as it is", strerror(-r)) < 0)
			sc->note = NULL;
		return 0;
	}
	sc->len = (size_t)r;
	if (memchr(sc->text, '\0', sc->len)) {
		sc->note = strdup("not a script (a program): left as it is");
		return 0;
	}
	if (strncmp(sc->text, "#!", 2) == 0) {
		const char *eol = strchr(sc->text, '\n');
		sc->shebang = strndup(sc->text, eol ? (size_t)(eol - sc->text) : strlen(sc->text));
		if (!sc->shebang)
			return -ENOMEM;
		sc->shell = shebang_is_shell(sc->shebang);
		if (!sc->shell) {
			if (asprintf(&sc->note, "not a shell script (%s): left as it is", sc->shebang) < 0)
				sc->note = NULL;
			return 0;
		}
	} else
		sc->shell = true;
	return parse_script(sc);
}

/* Every executable of one OP/SUBOP of a VM (or the single file the dispatcher also ran). */
static int add_event(struct import *im, struct vmi *vm, const char *op, const char *subop, bool release,
		     bool other)
{
	_cleanup_free_ char *dir = NULL, *rel = NULL;
	char **names = NULL;
	size_t n = 0;
	struct stat st;
	int r = 0;

	if (asprintf(&rel, "qemu.d/%s/%s/%s", vm->name, op, subop) < 0) {
		rel = NULL;
		return -ENOMEM;
	}
	if (asprintf(&dir, "%s/%s", im->hooks, rel) < 0) {
		dir = NULL;
		return -ENOMEM;
	}
	if (lstat(dir, &st) < 0)
		return 0;
	if (S_ISREG(st.st_mode)) {
		char name[PATH_MAX];
		if (!(st.st_mode & 0111))
			return 0;
		snprintf(name, sizeof(name), "%s/%s", op, subop);
		return add_script(im, vm, rel, name, release, other);
	}
	if (S_ISLNK(st.st_mode)) {
		char *note;
		if (asprintf(&note, "%s/%s is a symbolic link: vfiohook runs drop-ins only from a directory or a regular "
			     "file there; left as it is", op, subop) >= 0) {
			sv_add(&vm->left, note);
			free(note);
		}
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	r = dir_list(dir, &names, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *frel = NULL, *fpath = NULL, *fname = NULL;
		char *note = NULL;

		if (names[i][0] == '.')
			continue;
		if (!vm_name_is_safe(names[i])) {
			/* its name would end up in the comments of the scripts written */
			sv_add(&vm->left, "a file whose name has control characters: left as it is");
			continue;
		}
		if (asprintf(&frel, "%s/%s", rel, names[i]) < 0 || asprintf(&fpath, "%s/%s", dir, names[i]) < 0 ||
		    asprintf(&fname, "%s/%s/%s", op, subop, names[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		if (lstat(fpath, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			if (asprintf(&note, "%s: a symbolic link: the tutorial's dispatcher ran it, vfiohook runs "
				     "only regular files; left as it is (copy the file there instead)", fname) < 0)
				note = NULL;
		} else if (!S_ISREG(st.st_mode))
			continue;
		else if (!(st.st_mode & 0111)) {
			if (!other && asprintf(&note, "%s: not executable: the dispatcher did not run it, nor does "
					       "vfiohook; left as it is", fname) < 0)
				note = NULL;
		} else {
			r = add_script(im, vm, frel, fname, release, other);
			continue;
		}
		if (note) {
			sv_add(&vm->left, note);
			free(note);
		}
	}
	strv_free(names, n);
	return r;
}

/* The other events of a VM (started/begin, ...): only their `source kvm.conf` is a concern. */
static int add_other_events(struct import *im, struct vmi *vm)
{
	_cleanup_free_ char *dir = NULL;
	char **ops = NULL;
	size_t n_ops = 0;
	int r;

	if (asprintf(&dir, "%s/qemu.d/%s", im->hooks, vm->name) < 0) {
		dir = NULL;
		return -ENOMEM;
	}
	r = dir_list(dir, &ops, &n_ops);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	for (size_t i = 0; i < n_ops && r >= 0; i++) {
		_cleanup_free_ char *opdir = NULL;
		char **subs = NULL;
		size_t n_subs = 0;

		if (ops[i][0] == '.' || asprintf(&opdir, "%s/%s", dir, ops[i]) < 0) {
			opdir = NULL;
			continue;
		}
		if (dir_list(opdir, &subs, &n_subs) < 0)
			continue;
		for (size_t j = 0; j < n_subs && r >= 0; j++) {
			if (subs[j][0] == '.' || (streq(ops[i], "prepare") && streq(subs[j], "begin")) ||
			    (streq(ops[i], "release") && streq(subs[j], "end")))
				continue;
			r = add_event(im, vm, ops[i], subs[j], false, true);
		}
		strv_free(subs, n_subs);
	}
	strv_free(ops, n_ops);
	return r;
}

/* --- what each statement becomes ------------------------------------------------------- */

static void from(struct vmi *vm, enum setting s, const struct script *sc)
{
	sv_add_unique(&vm->from[s], sc->name);
}

static void add_pci(struct vmi *vm, const struct pci_addr *a)
{
	for (size_t i = 0; i < vm->n_pci; i++)
		if (pci_addr_equal(&vm->pci[i], a))
			return;
	if (vm->n_pci < MAX_PCI)
		vm->pci[vm->n_pci++] = *a;
}

static bool has_pci(const struct vmi *vm, const struct pci_addr *a)
{
	for (size_t i = 0; i < vm->n_pci; i++)
		if (pci_addr_equal(&vm->pci[i], a))
			return true;
	return false;
}

/* The address a detach/reattach names, through kvm.conf's variables; false with why. */
static bool stmt_addr(struct import *im, struct stmt *st, struct pci_addr *a, const char **var)
{
	struct svar *v;

	*var = NULL;
	if (!st->var[0]) {
		*a = st->addr;
		return st->have_addr;
	}
	v = svar_find(&im->conf, st->var);
	if (!v) {
		stmt_why(st, F_PERSON, "$%s is not set in the tutorial's kvm.conf", st->var);
		return false;
	}
	if (!nodedev_addr(v->value, a)) {
		stmt_why(st, F_PERSON, "%s=%s is not a PCI device name like pci_0000_09_00_0", v->name, v->value);
		return false;
	}
	v->used = true;
	v->use = "pci.devices";
	*var = v->name;
	return true;
}

static const char *size_word(uint64_t kib)
{
	return kib == 2048 ? "2M" : kib == 1048576 ? "1G" : NULL;
}

static void hugepages_from(struct import *im, struct vmi *vm, struct script *sc, struct stmt *st)
{
	uint64_t pages = st->number, size = st->size_kib;
	char src[128];

	if (!pages) {
		/* $HUGEPAGES, computed before in the same script from the memory variable */
		struct stmt *calc = NULL;
		struct svar *v;
		char *end;
		uint64_t mib;

		for (struct stmt *s = sc->s; s < st; s++)
			if (s->kind == K_HP_CALC)
				calc = s;
		if (!calc) {
			stmt_why(st, F_PERSON, "$HUGEPAGES is not computed in this script");
			return;
		}
		v = svar_find(&im->conf, calc->var);
		if (!v) {
			stmt_why(st, F_PERSON, "$%s is not set in the tutorial's kvm.conf", calc->var);
			return;
		}
		mib = strtoull(v->value, &end, 10);
		if (!v->value[0] || *end || mib == 0) {
			stmt_why(st, F_PERSON, "%s=%s is not a number of MiB", v->name, v->value);
			return;
		}
		if (!size)
			size = calc->default_size ? im->default_kib : 2048;
		pages = mib * 1024 / size;
		v->used = true;
		v->use = "hugepages.pages";
		snprintf(src, sizeof(src), "%s=%s (MiB) of the old kvm.conf", v->name, v->value);
	} else {
		if (!size)
			size = im->default_kib;
		snprintf(src, sizeof(src), "%llu pages", (unsigned long long)pages);
	}
	if (!size_word(size)) {
		stmt_why(st, F_PERSON, "huge pages of %llu KiB: set hugepages by hand", (unsigned long long)size);
		return;
	}
	if (vm->hp && (vm->hp_pages != pages || vm->hp_size_kib != size)) {
		stmt_why(st, F_PERSON, "a second allocation (%llu pages) that differs from the first (%llu)",
			 (unsigned long long)pages, (unsigned long long)vm->hp_pages);
		return;
	}
	vm->hp = true;
	vm->hp_pages = pages;
	vm->hp_size_kib = size;
	snprintf(vm->hp_from, sizeof(vm->hp_from), "%s", src);
	from(vm, SET_HP, sc);
	stmt_why(st, F_CONVERT, "hugepages: %llu pages of %s", (unsigned long long)pages, size_word(size));
}

/* Decides what every statement of the VM's prepare and release scripts becomes. */
static void decide_vm(struct import *im, struct vmi *vm)
{
	/* prepare: what makes a setting */
	for (size_t i = 0; i < vm->n_sc; i++) {
		struct script *sc = &vm->sc[i];
		if (!sc->shell || sc->release || sc->other || !sc->s)
			continue;
		for (size_t j = 0; j < sc->n; j++) {
			struct stmt *st = &sc->s[j];
			struct pci_addr a;
			const char *var;
			char buf[PCI_ADDR_STRLEN];

			switch (st->kind) {
			case K_UNIT_STOP:
				for (size_t k = 0; k < st->words.n; k++)
					sv_add_unique(&vm->units, st->words.v[k]);
				from(vm, SET_DISPLAY, sc);
				stmt_why(st, F_CONVERT, "display.units: \"%s\"%s (stopped over D-Bus, waiting for the job)", st->words.v[0],
					 st->words.n > 1 ? ", ..." : "");
				break;
			case K_VTCON_UNBIND:
				vm->vtconsole = true;
				from(vm, SET_VTCON, sc);
				stmt_why(st, F_CONVERT, "vtconsole = true (the framebuffer consoles, found by name)");
				break;
			case K_FB_UNBIND:
				vm->framebuffer = true;
				from(vm, SET_FB, sc);
				stmt_why(st, F_CONVERT, "framebuffer = true");
				break;
			case K_MOD_UNLOAD:
				for (size_t k = 0; k < st->words.n; k++)
					sv_add_unique(&vm->modules, st->words.v[k]);
				from(vm, SET_MODULES, sc);
				{
					struct buf mods = { 0 };
					for (size_t k = 0; k < st->words.n; k++)
						buf_printf(&mods, "%s\"%s\"", k ? ", " : "", st->words.v[k]);
					stmt_why(st, F_CONVERT, "modules.unload: %s (holders first; busy: the holders named)",
						 buf_str(&mods));
					buf_done(&mods);
				}
				break;
			case K_DETACH:
				if (!stmt_addr(im, st, &a, &var))
					break;
				add_pci(vm, &a);
				if (var)
					sv_add_unique(&vm->pci_vars, var);
				from(vm, SET_PCI, sc);
				pci_addr_format(&a, buf);
				stmt_why(st, F_CONVERT, "pci.devices: \"%s\" (to vfio-pci through sysfs, no virsh)", buf);
				break;
			case K_HP_ALLOC:
				hugepages_from(im, vm, sc, st);
				break;
			case K_GOVERNOR:
				if (vm->governor[0] && !streq(vm->governor, st->gov)) {
					stmt_why(st, F_PERSON, "a second governor (%s, not %s)", st->gov, vm->governor);
					break;
				}
				snprintf(vm->governor, sizeof(vm->governor), "%s", st->gov);
				from(vm, SET_GOV, sc);
				stmt_why(st, F_CONVERT, "governor: \"%s\"", st->gov);
				break;
			default:
				break;
			}
		}
	}

	/* prepare: what goes with a setting; release: what undoes one */
	for (size_t i = 0; i < vm->n_sc; i++) {
		struct script *sc = &vm->sc[i];
		if (!sc->shell || sc->other || !sc->s)
			continue;
		for (size_t j = 0; j < sc->n; j++) {
			struct stmt *st = &sc->s[j];
			struct pci_addr a;
			const char *var;
			bool all = true;

			if (st->fate != F_DROP || st->why)
				continue; /* decided above */
			switch (st->kind) {
			case K_NOISE:
			case K_EXIT0:
				break;
			case K_SLEEP:
				stmt_why(st, F_DROP, "vfiohook waits for the condition itself, with a bound");
				break;
			case K_SETUP:
			case K_SOURCE:
				st->fate = F_SETUP;
				break;
			case K_VFIO_LOAD:
				if (!sc->release && vm->n_pci)
					stmt_why(st, F_CONVERT, "pci.devices loads vfio-pci (and only unloads what it loaded)");
				else
					stmt_why(st, F_PERSON, "loads vfio modules %s", sc->release ? "on release" : "for no device");
				break;
			case K_HP_CALC:
			case K_HP_PART:
				if (vm->hp) {
					stmt_why(st, F_CONVERT, "hugepages: the pages computed, compacted for and checked by vfiohook (within hugepages.timeout)");
					if (st->drop_caches && !vm->hp_drop) {
						vm->hp_drop = true;
						from(vm, SET_HP, sc);
					}
				} else
					stmt_why(st, F_PERSON, "a hugepage step without an allocation vfiohook could take over");
				break;
			case K_UNIT_START:
				for (size_t k = 0; k < st->words.n; k++)
					all &= sv_has(&vm->units, st->words.v[k]);
				if (sc->release && all) {
					vm->undone[SET_DISPLAY] = true;
					stmt_why(st, F_CONVERT, "display.units: started again on release, if they were running");
				} else
					stmt_why(st, F_PERSON, "starts a unit that no prepare line stopped");
				break;
			case K_VTCON_BIND:
				if (sc->release && vm->vtconsole) {
					vm->undone[SET_VTCON] = true;
					stmt_why(st, F_CONVERT, "vtconsole: exactly the consoles unbound are bound again");
				} else
					stmt_why(st, F_PERSON, "binds a console that no prepare line unbound");
				break;
			case K_FB_BIND:
				if (sc->release && vm->framebuffer) {
					vm->undone[SET_FB] = true;
					stmt_why(st, F_CONVERT, "framebuffer: bound again if the kernel kept it");
				} else
					stmt_why(st, F_PERSON, "binds a framebuffer that no prepare line unbound");
				break;
			case K_MOD_LOAD:
				for (size_t k = 0; k < st->words.n; k++)
					all &= sv_has(&vm->modules, st->words.v[k]);
				if (sc->release && all) {
					vm->undone[SET_MODULES] = true;
					stmt_why(st, F_CONVERT, "modules.unload: loaded again on release");
				} else
					stmt_why(st, F_PERSON, "loads a module that no prepare line unloaded");
				break;
			case K_VFIO_UNLOAD:
				if (sc->release && vm->n_pci)
					stmt_why(st, F_CONVERT, "pci.devices: vfio modules unloaded only if vfiohook loaded them");
				else
					stmt_why(st, F_PERSON, "unloads vfio modules");
				break;
			case K_REATTACH:
				if (!stmt_addr(im, st, &a, &var))
					break;
				if (sc->release && has_pci(vm, &a)) {
					char buf[PCI_ADDR_STRLEN];
					pci_addr_format(&a, buf);
					vm->undone[SET_PCI] = true;
					stmt_why(st, F_CONVERT, "pci.devices: \"%s\" back to its driver on release", buf);
				} else
					stmt_why(st, F_PERSON, "reattaches a device that no prepare line detached");
				break;
			case K_HP_FREE:
				if (sc->release && vm->hp) {
					vm->undone[SET_HP] = true;
					stmt_why(st, F_CONVERT, "hugepages: exactly the pages this VM added are given back");
				} else
					stmt_why(st, F_PERSON, "empties the hugepage pool");
				break;
			case K_GOVERNOR:
				if (sc->release && vm->governor[0]) {
					vm->undone[SET_GOV] = true;
					snprintf(vm->release_governor, sizeof(vm->release_governor), "%s", st->gov);
					stmt_why(st, F_CONVERT, "governor: each CPU's previous governor restored");
				} else if (!st->why)
					stmt_why(st, F_PERSON, "sets the governor");
				break;
			case K_AUDIO:
				stmt_why(st, F_KEEP, "the user's audio server: vfiohook has no setting for it yet");
				break;
			case K_UNKNOWN:
				stmt_why(st, F_PERSON, st->incomplete ? "not understood (unterminated)" : "not understood");
				break;
			default:
				if (!st->why)
					stmt_why(st, F_PERSON, "a step vfiohook takes on prepare, here on release");
				break;
			}
		}
	}

	/* an `exit 0` with something kept after it stays, or the kept lines would now run */
	for (size_t i = 0; i < vm->n_sc; i++) {
		struct script *sc = &vm->sc[i];
		bool later = false;
		for (size_t j = sc->n; j-- > 0;) {
			struct stmt *st = &sc->s[j];
			if (st->kind == K_EXIT0 && later)
				stmt_why(st, F_PERSON, "an exit before lines that are kept");
			later |= st->fate == F_KEEP || st->fate == F_PERSON;
		}
	}
}

/* Does text use $NAME or ${NAME? */
static bool uses_var(const char *text, const char *name)
{
	size_t l = strlen(name);

	for (const char *p = strchr(text, '$'); p; p = strchr(p + 1, '$')) {
		const char *q = p + 1 + (p[1] == '{');
		if (strncmp(q, name, l) == 0 && !isalnum((unsigned char)q[l]) && q[l] != '_')
			return true;
	}
	return false;
}

/* The assignments of the old kvm.conf that text uses, for a script that sourced it. */
static void inline_vars(struct import *im, const char *text, struct buf *out)
{
	bool any = false;

	for (size_t i = 0; i < im->conf.n; i++) {
		if (!uses_var(text, im->conf.v[i].name))
			continue;
		if (!any)
			buf_puts(out, "# what this script used of the old kvm.conf (now vfiohook's, not a shell file):\n");
		any = true;
		buf_printf(out, "%s\n", im->conf.v[i].text);
	}
	if (!any)
		buf_puts(out, "# (vfiohook import: the old kvm.conf is no longer sourced: it is vfiohook's now)\n");
}

static void decide_fates(struct import *im, struct vmi *vm)
{
	for (size_t i = 0; i < vm->n_sc; i++) {
		struct script *sc = &vm->sc[i];

		for (size_t j = 0; j < sc->n; j++) {
			enum fate f = sc->s[j].fate;
			sc->n_conv += f == F_CONVERT;
			sc->n_kept += f == F_KEEP || f == F_PERSON;
			sc->n_source += sc->s[j].kind == K_SOURCE;
		}
		if (!sc->shell || !sc->s)
			sc->fate = S_LEAVE;
		else if (sc->n_conv == 0 || sc->other)
			sc->fate = sc->n_source ? S_SOURCE : S_LEAVE;
		else
			sc->fate = sc->n_kept ? S_REPLACE : S_MOVE;
	}
}

static void settings_of(const struct script *sc, struct buf *out)
{
	struct strv seen = { 0 };

	for (size_t j = 0; j < sc->n; j++) {
		const struct stmt *st = &sc->s[j];
		char key[32];
		size_t l;
		if (st->fate != F_CONVERT || !st->why)
			continue;
		l = strcspn(st->why, ": ");
		snprintf(key, sizeof(key), "%.*s", (int)MIN(l, sizeof(key) - 1), st->why);
		if (sv_has(&seen, key))
			continue;
		buf_printf(out, "%s%s", seen.n ? ", " : "", key);
		sv_add(&seen, key);
	}
	sv_done(&seen);
}

/* The new text of a script that keeps some of its lines. */
static char *residual(struct import *im, const struct vmi *vm, const struct script *sc)
{
	struct buf b = { 0 }, keys = { 0 }, kept = { 0 };
	bool vars_done = false;

	for (size_t j = 0; j < sc->n; j++)
		if (sc->s[j].fate == F_KEEP || sc->s[j].fate == F_PERSON)
			buf_puts(&kept, sc->s[j].text);
	settings_of(sc, &keys);
	buf_printf(&b, "%s\n", sc->shebang ? sc->shebang : "#!/bin/bash");
	buf_printf(&b, "# vfiohook import, %s: the other lines of this script are now settings of\n"
		   "# \"%s\" in %s/kvm.conf: %s.\n# The original is in %s/%s/%s.\n"
		   "# vfiohook runs this script %s.\n",
		   im->when, vm->name, HOOKS, buf_str(&keys), HOOKS, im->backup_name, sc->rel,
		   sc->release ? "before its built-in stages on release end"
			       : "after its built-in stages on prepare begin");
	for (size_t j = 0; j < sc->n; j++) {
		const struct stmt *st = &sc->s[j];
		if (st->kind == K_SOURCE) {
			if (!vars_done)
				inline_vars(im, buf_str(&kept), &b);
			vars_done = true;
		} else if (st->fate == F_SETUP || st->fate == F_KEEP || st->fate == F_PERSON) {
			buf_puts(&b, st->text);
			if (st->text[0] && st->text[strlen(st->text) - 1] != '\n')
				buf_puts(&b, "\n");
		}
	}
	buf_done(&keys);
	buf_done(&kept);
	return buf_take(&b);
}

/* A script kept whole but for its `source kvm.conf` lines. */
static char *source_replaced(struct import *im, const struct script *sc)
{
	struct buf b = { 0 };

	for (size_t j = 0; j < sc->n; j++) {
		const struct stmt *st = &sc->s[j];
		if (st->kind == K_SOURCE)
			inline_vars(im, sc->text, &b);
		else
			buf_puts(&b, st->text);
	}
	if (b.len && sc->len && sc->text[sc->len - 1] == '\n' && b.s[b.len - 1] != '\n')
		buf_puts(&b, "\n");
	return buf_take(&b);
}

/* --- the new kvm.conf --------------------------------------------------------------------- */

static void conf_string(struct buf *b, const char *s)
{
	buf_puts(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_printf(b, "\\%c", *s);
		else
			buf_add(b, s, 1);
	}
	buf_puts(b, "\"");
}

static void conf_from(struct buf *b, const struct vmi *vm, enum setting s)
{
	buf_puts(b, "    # from ");
	for (size_t i = 0; i < vm->from[s].n; i++)
		buf_printf(b, "%s%s", i ? ", " : "", vm->from[s].v[i]);
	buf_puts(b, "\n");
}

static bool vm_has_settings(const struct vmi *vm)
{
	return vm->hp || vm->units.n || vm->vtconsole || vm->framebuffer || vm->modules.n || vm->n_pci ||
	       vm->governor[0];
}

static char *new_conf(struct import *im)
{
	struct buf b = { 0 };
	bool first = true;

	buf_printf(&b,
		   "# %s/kvm.conf: vfiohook's settings, see kvm.conf(5). Written by \"vfiohook import\" on\n"
		   "# %s from the passthrough tutorial's kvm.conf and qemu.d scripts; the originals are in\n"
		   "# %s/%s/ and \"vfiohook import --undo\" with that\n"
		   "# directory puts them back. Check a change with: vfiohook check\n\nvm = (\n",
		   HOOKS, im->when, HOOKS, im->backup_name);
	for (size_t i = 0; i < im->n_vms; i++) {
		const struct vmi *vm = &im->vms[i];
		if (!vm_has_settings(vm))
			continue;
		buf_printf(&b, "%s  {\n    name = ", first ? "" : ",\n");
		first = false;
		conf_string(&b, vm->name);
		buf_puts(&b, ";\n");
		if (vm->hp) {
			buf_printf(&b, "    # %s%s\n", vm->hp_from,
				   vm->hp_auto ? "; the domain's <memory> agrees, so it is taken from there" : "");
			conf_from(&b, vm, SET_HP);
			buf_printf(&b, "    hugepages = { size = \"%s\"; pages = ", size_word(vm->hp_size_kib));
			if (vm->hp_auto)
				buf_puts(&b, "\"auto\";");
			else
				buf_printf(&b, "%llu;", (unsigned long long)vm->hp_pages);
			buf_printf(&b, "%s };\n", vm->hp_drop ? " drop_caches = true;" : "");
		}
		if (vm->units.n) {
			conf_from(&b, vm, SET_DISPLAY);
			buf_puts(&b, "    display = { units = [ ");
			for (size_t k = 0; k < vm->units.n; k++) {
				buf_puts(&b, k ? ", " : "");
				conf_string(&b, vm->units.v[k]);
			}
			buf_puts(&b, " ]; };\n");
		}
		if (vm->vtconsole) {
			conf_from(&b, vm, SET_VTCON);
			buf_puts(&b, "    vtconsole = true;\n");
		}
		if (vm->framebuffer) {
			conf_from(&b, vm, SET_FB);
			buf_puts(&b, "    framebuffer = true;\n");
		}
		if (vm->modules.n) {
			conf_from(&b, vm, SET_MODULES);
			buf_puts(&b, "    modules = { unload = [ ");
			for (size_t k = 0; k < vm->modules.n; k++) {
				buf_puts(&b, k ? ", " : "");
				conf_string(&b, vm->modules.v[k]);
			}
			buf_puts(&b, " ]; };\n");
		}
		if (vm->n_pci) {
			conf_from(&b, vm, SET_PCI);
			if (vm->pci_vars.n) {
				buf_puts(&b, "    # ");
				for (size_t k = 0; k < vm->pci_vars.n; k++)
					buf_printf(&b, "%s%s", k ? ", " : "", vm->pci_vars.v[k]);
				buf_puts(&b, " of the old kvm.conf\n");
			}
			buf_puts(&b, "    pci = { devices = [ ");
			for (size_t k = 0; k < vm->n_pci; k++) {
				char a[PCI_ADDR_STRLEN];
				pci_addr_format(&vm->pci[k], a);
				buf_printf(&b, "%s\"%s\"", k ? ", " : "", a);
			}
			buf_puts(&b, " ]; };\n");
		}
		if (vm->governor[0]) {
			conf_from(&b, vm, SET_GOV);
			buf_puts(&b, "    governor = { name = ");
			conf_string(&b, vm->governor);
			buf_puts(&b, "; };\n");
		}
		buf_puts(&b, "  }");
	}
	buf_puts(&b, first ? ");\n" : "\n);\n");
	return buf_take(&b);
}

/* pages = "auto" when the domain's definition (DIR/etc/libvirt/qemu/VM.xml) agrees. */
static void hugepages_auto(struct import *im, struct vmi *vm)
{
	_cleanup_free_ char *xml = NULL;
	_cleanup_free_ struct domain *dom = NULL;
	char err[256], *note;
	int r;

	if (!vm->hp)
		return;
	r = host_read_all(&xml, DOMAIN_XML_MAX, "/etc/libvirt/qemu/%s.xml", vm->name);
	if (r < 0)
		return;
	dom = calloc(1, sizeof(*dom));
	if (!dom || domain_parse(xml, (size_t)r, dom, err, sizeof(err)) < 0)
		return;
	if (dom->hugepages && dom->memory_kib == vm->hp_pages * vm->hp_size_kib &&
	    (dom->n_pages == 0 || dom->pages[0].size_kib == 0 || dom->pages[0].size_kib == vm->hp_size_kib) &&
	    dom->n_pages <= 1) {
		vm->hp_auto = true;
		return;
	}
	if (asprintf(&note, "hugepages: %s/qemu/%s.xml has %llu MiB%s, the scripts allocate %llu MiB: pages stay "
		     "a number (pages = \"auto\" follows the domain)", "/etc/libvirt", vm->name,
		     (unsigned long long)(dom->memory_kib / 1024),
		     dom->hugepages ? "" : " without <hugepages/> memory backing",
		     (unsigned long long)(vm->hp_pages * vm->hp_size_kib / 1024)) >= 0) {
		sv_add(&vm->notes, note);
		free(note);
	}
}

/* --- reading the hooks directory ---------------------------------------------------------- */

static int load(struct import *im)
{
	_cleanup_free_ char *meminfo = NULL, *qd = NULL;
	char **names = NULL;
	size_t n = 0;
	struct stat st;
	int r;

	im->default_kib = 2048;
	if (host_read_all(&meminfo, 1 << 20, "/proc/meminfo") >= 0) {
		const char *h = strstr(meminfo, "Hugepagesize:");
		if (h && strtoull(h + 13, NULL, 10) > 0)
			im->default_kib = strtoull(h + 13, NULL, 10);
	}

	/* the hook */
	if (lstat(im->qemu_path, &im->qemu_st) == 0) {
		_cleanup_free_ char *text = NULL;
		char target[PATH_MAX];
		ssize_t l = S_ISLNK(im->qemu_st.st_mode) ? readlink(im->qemu_path, target, sizeof(target) - 1) : -1;

		if (l >= 0) {
			const char *base;
			target[l] = '\0';
			base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
			if (streq(base, "vfiohook"))
				im->qemu = Q_VFIOHOOK;
		}
		if (im->qemu == Q_NONE) {
			r = host_read_file(im->qemu_path, FILE_MAX, &text);
			/* a link to the dispatcher (a checkout of VFIO-Tools) is moved as the link it is */
			if (r >= 0 && import_is_tutorial_dispatcher(text))
				im->qemu = Q_DISPATCHER;
			else if (r >= 0 && memmem(text, (size_t)r, "vfiohook", 8) && memchr(text, '\0', (size_t)r))
				im->qemu = Q_VFIOHOOK;
			else
				im->qemu = Q_OTHER;
		}
	} else if (errno != ENOENT) {
		r = negative_errno();
		fprintf(stderr, "vfiohook: cannot look at %s: %s\n", im->qemu_path, strerror(-r));
		return r;
	}

	/* the tutorial's kvm.conf */
	r = lstat(im->conf_path, &im->conf.st);
	if (r == 0) {
		if (!S_ISREG(im->conf.st.st_mode)) {
			fprintf(stderr, "vfiohook: %s is not a regular file; refusing\n", im->conf_path);
			return -EINVAL;
		}
		r = host_read_file(im->conf_path, FILE_MAX, &im->conf.text);
		if (r < 0) {
			fprintf(stderr, "vfiohook: cannot read %s: %s\n", im->conf_path, strerror(-r));
			return r;
		}
		im->conf_hash = fnv(im->conf.text, (size_t)r);
		r = shconf_parse(&im->conf);
		if (r < 0)
			return r;
	} else if (errno != ENOENT) {
		r = negative_errno();
		fprintf(stderr, "vfiohook: cannot look at %s: %s\n", im->conf_path, strerror(-r));
		return r;
	}

	/* the VMs of qemu.d */
	if (asprintf(&qd, "%s/qemu.d", im->hooks) < 0) {
		qd = NULL;
		return -ENOMEM;
	}
	if (lstat(qd, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	r = dir_list(qd, &names, &n);
	if (r < 0) {
		fprintf(stderr, "vfiohook: cannot read %s: %s\n", qd, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *p = NULL;
		struct vmi *nv, *vm;
		char *note = NULL;

		if (names[i][0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", qd, names[i]) < 0) {
			p = NULL;
			r = -ENOMEM;
			break;
		}
		if (lstat(p, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode) || !vm_name_is_safe(names[i])) {
			if (asprintf(&note, "qemu.d/%s: %s; left as it is", names[i],
				     S_ISLNK(st.st_mode) ? "a symbolic link, not a VM's directory"
				     : S_ISREG(st.st_mode) ? "a file at the top of qemu.d: libvirt (6.5 and later) runs it "
							     "itself for every VM and event"
							   : "not a VM's directory") >= 0) {
				sv_add(&im->notes, note);
				free(note);
			}
			continue;
		}
		nv = realloc(im->vms, (im->n_vms + 1) * sizeof(*nv));
		if (!nv) {
			r = -ENOMEM;
			break;
		}
		im->vms = nv;
		vm = &im->vms[im->n_vms++];
		memset(vm, 0, sizeof(*vm));
		vm->name = strdup(names[i]);
		if (!vm->name) {
			r = -ENOMEM;
			break;
		}
		r = add_event(im, vm, "prepare", "begin", false, false);
		if (r >= 0)
			r = add_event(im, vm, "release", "end", true, false);
		if (r >= 0)
			r = add_other_events(im, vm);
	}
	strv_free(names, n);
	if (r < 0) {
		fprintf(stderr, "vfiohook: cannot read the scripts in %s: %s\n", qd, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < im->n_vms; i++) {
		decide_vm(im, &im->vms[i]);
		decide_fates(im, &im->vms[i]);
		hugepages_auto(im, &im->vms[i]);
	}
	return 0;
}

/* --- the report --------------------------------------------------------------------------- */

/* The first line of a statement, shortened, for the report. */
static void stmt_show(const struct stmt *st, char *buf, size_t size)
{
	const char *p = st->text;
	size_t l = strcspn(p, "\n");

	while (l && isspace((unsigned char)*p))
		p++, l--;
	while (l && isspace((unsigned char)p[l - 1]))
		l--;
	if (l > 72)
		snprintf(buf, size, "%.69s...", p);
	else if (st->n_lines > 1)
		snprintf(buf, size, "%.*s ... (%u lines)", (int)l, p, st->n_lines);
	else
		snprintf(buf, size, "%.*s", (int)l, p);
}

static void report_vm(struct import *im, const struct vmi *vm, struct buf *b)
{
	static const char *const heads[] = {
		[F_CONVERT] = "  into kvm.conf:\n",
		[F_DROP] = "  dropped:\n",
		[F_KEEP] = "  kept in the scripts (no vfiohook setting for it yet):\n",
		[F_PERSON] = "  needs a person (kept in the scripts):\n",
	};
	static const enum fate order[] = { F_CONVERT, F_DROP, F_KEEP, F_PERSON };
	bool any_settings = vm_has_settings(vm);

	buf_printf(b, "\n%s:%s\n", vm->name, any_settings ? "" : " (no vfiohook settings: not in kvm.conf)");
	for (size_t o = 0; o < ELEMENTSOF(order); o++) {
		bool head = false;
		unsigned noise = 0;
		for (size_t i = 0; i < vm->n_sc; i++) {
			const struct script *sc = &vm->sc[i];
			_cleanup_free_ bool *shown = calloc(sc->n + 1, sizeof(bool));
			if (sc->other || !sc->shell || !shown)
				continue;
			for (size_t j = 0; j < sc->n; j++) {
				const struct stmt *st = &sc->s[j];
				char show[128];
				unsigned more = 0;
				if (st->fate != order[o] || shown[j])
					continue;
				if (st->fate == F_DROP && !st->why) {
					noise += st->kind != K_NOISE || strspn(st->text, " \t\n") != strlen(st->text);
					continue;
				}
				if (!head)
					buf_puts(b, heads[order[o]]);
				head = true;
				stmt_show(st, show, sizeof(show));
				/* the statements of the script that became the same thing, on one line; what
				 * is kept, each on its own */
				buf_printf(b, "    %s:%u", sc->name, st->line);
				for (size_t k = j + 1; st->fate != F_KEEP && st->fate != F_PERSON && k < sc->n; k++)
					if (sc->s[k].fate == st->fate && st->why && sc->s[k].why && streq(sc->s[k].why, st->why)) {
						buf_printf(b, ",%u", sc->s[k].line);
						shown[k] = true;
						more++;
					}
				buf_printf(b, ": %s%s\n        -> %s\n", show, more ? " (and the others)" : "",
					   st->why ? st->why : "");
			}
		}
		if (order[o] == F_DROP && noise) {
			if (!head)
				buf_puts(b, heads[F_DROP]);
			buf_printf(b, "    %u comment, echo, set -x and exit lines\n", noise);
		}
		if (order[o] == F_CONVERT) {
			/* what the scripts did not undo, vfiohook does */
			static const enum setting un[] = { SET_DISPLAY, SET_VTCON, SET_FB, SET_MODULES, SET_PCI, SET_HP, SET_GOV };
			for (size_t k = 0; k < ELEMENTSOF(un); k++)
				if (vm->from[un[k]].n && !vm->undone[un[k]])
					buf_printf(b, "    note: the release scripts did not undo %s; vfiohook does, on release end\n",
						   setting_key[un[k]]);
			if (vm->undone[SET_GOV] && vm->release_governor[0] && !streq(vm->release_governor, vm->governor))
				buf_printf(b, "    note: release set \"%s\"; vfiohook restores each CPU's governor as it was "
					   "before\n", vm->release_governor);
			if (vm->hp)
				buf_printf(b, "    note: hugepages: only the pages missing from the free pool are allocated, "
					   "and release gives back exactly those (the scripts set the pool to %llu, then to 0)\n",
					   (unsigned long long)vm->hp_pages);
		}
	}
	for (size_t i = 0; i < vm->notes.n; i++)
		buf_printf(b, "  note: %s\n", vm->notes.v[i]);
	buf_puts(b, "  scripts:\n");
	for (size_t i = 0; i < vm->n_sc; i++) {
		const struct script *sc = &vm->sc[i];
		if (sc->other && sc->fate == S_LEAVE && sc->st.st_uid == 0 && !(sc->st.st_mode & 022))
			continue;
		switch (sc->fate) {
		case S_MOVE:
			buf_printf(b, "    %s: every line taken over: moved to the backup\n", sc->name);
			break;
		case S_REPLACE:
			buf_printf(b, "    %s: replaced by its %u line%s left%s (run %s)\n", sc->name, sc->n_kept,
				   sc->n_kept == 1 ? "" : "s",
				   sc->st.st_uid != 0 || (sc->st.st_mode & 022) ? ", root's and writable by root only" : "",
				   sc->release ? "before vfiohook's stages on release end, no longer after the steps above"
					       : "after vfiohook's stages on prepare begin, no longer before the steps above");
			break;
		case S_SOURCE:
			buf_printf(b, "    %s: kept, its \"source kvm.conf\" replaced by the variables it uses\n", sc->name);
			break;
		case S_LEAVE:
			if (sc->note)
				buf_printf(b, "    %s: %s\n", sc->name, sc->note);
			else
				buf_printf(b, "    %s: left as it is: nothing in it is a vfiohook setting\n", sc->name);
			if (sc->shell && !sc->shebang)
				buf_printf(b, "    %s: needs a person: no #! line; vfiohook runs drop-ins directly, so add "
					   "#!/bin/bash\n", sc->name);
			if (sc->st.st_uid != 0 || (sc->st.st_mode & 022))
				buf_printf(b, "    %s: needs a person: %s; vfiohook refuses such a drop-in (and fails "
					   "prepare): chown root:root, chmod go-w\n", sc->name,
					   sc->st.st_uid != 0 ? "not root's" : "group- or world-writable");
			break;
		}
	}
	for (size_t i = 0; i < vm->left.n; i++)
		buf_printf(b, "    %s\n", vm->left.v[i]);
}

static void report(struct import *im, struct buf *b, bool dry, unsigned n_vms)
{
	buf_printf(b, "vfiohook import%s: %s%s\n", dry ? " (dry run: nothing is changed)" : "", host_root(), HOOKS);
	switch (im->qemu) {
	case Q_DISPATCHER:
		buf_puts(b, "qemu: the passthrough tutorial's dispatcher: moved to the backup (vfiohook runs the "
			    "qemu.d scripts itself, sorted, with a time limit each)\n");
		break;
	case Q_VFIOHOOK:
		buf_puts(b, "qemu: runs vfiohook already\n");
		break;
	case Q_OTHER:
		buf_puts(b, "qemu: needs a person: not the tutorial's dispatcher; left as it is (vfiohook install moves "
			    "it aside)\n");
		break;
	case Q_NONE:
		buf_puts(b, "qemu: none\n");
		break;
	}
	if (im->conf.kind == C_SHELL) {
		buf_printf(b, "kvm.conf: the tutorial's shell variables: moved to the backup; the new kvm.conf has %u VM%s\n",
			   n_vms, n_vms == 1 ? "" : "s");
		for (size_t i = 0; i < im->conf.n; i++) {
			const struct svar *v = &im->conf.v[i];
			if (v->used)
				buf_printf(b, "  %s=%s -> %s\n", v->name, v->value, v->use);
			else if (strncmp(v->name, "VIRSH_", 6) == 0)
				buf_printf(b, "  %s=%s: detached by no script that was taken over: not in pci.devices (a "
					   "<hostdev> of the domain, or add it by hand)\n", v->name, v->value);
			else if (streq(v->name, "VM_NAME"))
				buf_printf(b, "  %s=%s: not needed (a VM's block is named by its qemu.d directory)\n", v->name,
					   v->value);
			else
				buf_printf(b, "  %s=%s: not used by anything taken over\n", v->name, v->value);
		}
		for (size_t i = 0; i < im->conf.other.n; i++)
			buf_printf(b, "  needs a person: line %s: not a variable; every script that sourced kvm.conf ran "
				   "it (now it is only in the backup)\n", im->conf.other.v[i]);
	} else
		buf_printf(b, "kvm.conf: none; a new one is written with %u VM%s\n", n_vms, n_vms == 1 ? "" : "s");
	for (size_t i = 0; i < im->notes.n; i++)
		buf_printf(b, "%s\n", im->notes.v[i]);
	for (size_t i = 0; i < im->n_vms; i++)
		report_vm(im, &im->vms[i], b);
}

/* --- files -------------------------------------------------------------------------------- */

/* A hash of what is at path: a file's contents, a link's target; -ENOENT, or -EINVAL for others. */
static int hash_path(const char *path, uint64_t *ret)
{
	struct stat st;
	char target[PATH_MAX];
	_cleanup_free_ char *text = NULL;
	int r;

	if (lstat(path, &st) < 0)
		return negative_errno();
	if (S_ISLNK(st.st_mode)) {
		ssize_t l = readlink(path, target, sizeof(target) - 1);
		if (l < 0)
			return negative_errno();
		*ret = fnv(target, (size_t)l) ^ 0x9e3779b97f4a7c15ULL;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	r = host_read_file(path, 16 * FILE_MAX, &text);
	if (r < 0)
		return r;
	*ret = fnv(text, (size_t)r);
	return 0;
}

/* rename(2) that never replaces what is at to (something new there is not ours to lose). */
static int move_file(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return negative_errno();
	/* a file system without RENAME_NOREPLACE */
	if (access(to, F_OK) == 0)
		return -EEXIST;
	return rename(from, to) < 0 ? negative_errno() : 0;
}

static int write_file(const char *path, const char *text, mode_t mode, uid_t uid, gid_t gid)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t len = strlen(text), done = 0;

	if (fd < 0)
		return negative_errno();
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int r = n < 0 ? negative_errno() : -EIO;
			unlink(path);
			return r;
		}
		done += (size_t)n;
	}
	if ((geteuid() == 0 && fchown(fd, uid, gid) < 0) || fchmod(fd, mode & 07777) < 0 || fsync(fd) < 0) {
		int r = negative_errno();
		unlink(path);
		return r;
	}
	return 0;
}

/* The directories of rel below base, made as needed. */
static int make_parents(const char *base, const char *rel, mode_t mode)
{
	char p[PATH_MAX];
	size_t bl = strlen(base);

	if (snprintf(p, sizeof(p), "%s/%s", base, rel) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (char *s = p + bl + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return negative_errno();
		*s = '/';
	}
	return 0;
}

/* Empty directories below and at path removed, deepest first; files are left (and so is path). */
static void remove_empty_dirs(const char *path)
{
	char **names = NULL;
	size_t n = 0;

	if (dir_list(path, &names, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char *p;
		struct stat st;
		if (asprintf(&p, "%s/%s", path, names[i]) < 0)
			continue;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			remove_empty_dirs(p);
		free(p);
	}
	strv_free(names, n);
	(void)rmdir(path);
}

/* The manifest: one line per file, path escaped (%XX) so it is one word. */
struct entry {
	char kind; /* 'm' moved to the backup, 'r' replaced (moved, and a new file there), 'c' created */
	char *rel;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	uint64_t old_hash, new_hash;
	const char *text; /* the new contents */
	mode_t new_mode;
	char *tmp;
};

static const char *kind_word(char k)
{
	return k == 'm' ? "moved" : k == 'r' ? "replaced" : "created";
}

static void escape_path(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || strchr("._+,@:=/-", c))
			buf_add(b, s, 1);
		else
			buf_printf(b, "%%%02X", c);
	}
}

static char *unescape_path(const char *s)
{
	struct buf b = { 0 };

	for (; *s; s++) {
		unsigned v;
		char c;
		if (*s != '%') {
			buf_add(&b, s, 1);
			continue;
		}
		if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]) || sscanf(s + 1, "%2x", &v) != 1 ||
		    v == 0) {
			buf_done(&b);
			return NULL;
		}
		c = (char)v;
		buf_add(&b, &c, 1);
		s += 2;
	}
	return buf_take(&b);
}

/* A path the manifest may name: below the hooks directory, qemu, kvm.conf or in qemu.d. */
static bool rel_ok(const char *rel)
{
	const char *p = rel;

	if (!streq(rel, "qemu") && !streq(rel, "kvm.conf") && strncmp(rel, "qemu.d/", 7) != 0)
		return false;
	while (*p) {
		size_t l = strcspn(p, "/");
		if (l == 0 || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += l;
		if (*p)
			p++;
		else
			break;
	}
	return rel[strlen(rel) - 1] != '/';
}

static char *manifest_text(struct import *im, const struct entry *e, size_t n)
{
	struct buf b = { 0 };

	buf_printf(&b, "%s\n# written by vfiohook import on %s; \"vfiohook import --undo %s/%s\" puts every\n"
		   "# file back: KIND MODE UID GID HASH-BEFORE HASH-AFTER PATH (below the hooks directory)\n"
		   "hooks %s\n", MANIFEST_MAGIC, im->when, HOOKS, im->backup_name, HOOKS);
	for (size_t i = 0; i < n; i++) {
		buf_printf(&b, "%s %o %u %u ", kind_word(e[i].kind), (unsigned)e[i].mode, (unsigned)e[i].uid,
			   (unsigned)e[i].gid);
		if (e[i].kind == 'c')
			buf_puts(&b, "-");
		else
			buf_printf(&b, "%016llx", (unsigned long long)e[i].old_hash);
		if (e[i].kind == 'm')
			buf_puts(&b, " - ");
		else
			buf_printf(&b, " %016llx ", (unsigned long long)e[i].new_hash);
		escape_path(&b, e[i].rel);
		buf_puts(&b, "\n");
	}
	buf_puts(&b, "end\n");
	return buf_take(&b);
}

static void entries_done(struct entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].rel);
		free(e[i].tmp);
	}
	free(e);
}

static int manifest_read(const char *backup, struct entry **ret, size_t *ret_n, char *err, size_t errlen)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	struct entry *e = NULL;
	size_t n = 0;
	char *save = NULL, *line;
	bool magic = false, hooks = false, end = false;
	int r;

	if (asprintf(&path, "%s/%s", backup, MANIFEST) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	r = host_read_file(path, FILE_MAX, &text);
	if (r < 0) {
		snprintf(err, errlen, "no manifest %s (%s)", MANIFEST, strerror(-r));
		return r;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char kind[16], h1[20], h2[20], rel[PATH_MAX * 3 / 2];
		unsigned mode, uid, gid;
		struct entry *ne;

		if (!magic) {
			if (!streq(line, MANIFEST_MAGIC))
				break;
			magic = true;
			continue;
		}
		if (end) {
			end = false; /* something after the end */
			break;
		}
		if (line[0] == '#')
			continue;
		if (strncmp(line, "hooks ", 6) == 0) {
			hooks = streq(line + 6, HOOKS);
			continue;
		}
		if (streq(line, "end")) {
			end = true;
			continue;
		}
		if (strlen(line) >= sizeof(rel) ||
		    sscanf(line, "%15s %o %u %u %19s %19s %s", kind, &mode, &uid, &gid, h1, h2, rel) != 7) {
			snprintf(err, errlen, "manifest line not understood: %.80s", line);
			entries_done(e, n);
			return -EINVAL;
		}
		ne = realloc(e, (n + 1) * sizeof(*ne));
		if (!ne) {
			entries_done(e, n);
			return -ENOMEM;
		}
		e = ne;
		memset(&e[n], 0, sizeof(e[n]));
		e[n].kind = streq(kind, "moved") ? 'm' : streq(kind, "replaced") ? 'r' : streq(kind, "created") ? 'c' : 0;
		e[n].mode = (mode_t)mode;
		e[n].uid = (uid_t)uid;
		e[n].gid = (gid_t)gid;
		e[n].old_hash = strtoull(h1, NULL, 16);
		e[n].new_hash = strtoull(h2, NULL, 16);
		e[n].rel = unescape_path(rel);
		n++;
		if (!e[n - 1].kind || !e[n - 1].rel || !rel_ok(e[n - 1].rel) || (e[n - 1].kind != 'c') != !streq(h1, "-") ||
		    (e[n - 1].kind != 'm') != !streq(h2, "-")) {
			snprintf(err, errlen, "manifest line not understood: %.80s", line);
			entries_done(e, n);
			return -EINVAL;
		}
	}
	if (!magic || !hooks || !end) {
		snprintf(err, errlen, "%s is not a complete vfiohook import manifest", MANIFEST);
		entries_done(e, n);
		return -EINVAL;
	}
	*ret = e;
	*ret_n = n;
	return 0;
}

static bool is_vfiohook_link(const char *path)
{
	char target[PATH_MAX];
	ssize_t l = readlink(path, target, sizeof(target) - 1);
	const char *base;

	if (l < 0)
		return false;
	target[l] = '\0';
	base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	return streq(base, "vfiohook");
}

enum step { ST_NOTHING, ST_RESTORE, ST_REMOVE_RESTORE, ST_REMOVE, ST_CONFLICT };

/* What undo does for one entry, from what is there now; ST_CONFLICT with the reason. */
static enum step undo_step(const char *hooks, const char *backup, const struct entry *e, char *why, size_t size)
{
	char t[PATH_MAX], b[PATH_MAX];
	uint64_t ht = 0, hb = 0;
	int rt, rb;

	if (snprintf(t, sizeof(t), "%s/%s", hooks, e->rel) >= (int)sizeof(t) ||
	    snprintf(b, sizeof(b), "%s/%s", backup, e->rel) >= (int)sizeof(b)) {
		snprintf(why, size, "path too long");
		return ST_CONFLICT;
	}
	rt = hash_path(t, &ht);
	rb = e->kind == 'c' ? -ENOENT : hash_path(b, &hb);
	if ((rt < 0 && rt != -ENOENT) || (rb < 0 && rb != -ENOENT)) {
		snprintf(why, size, "cannot be read (%s)", strerror(-(rt < 0 && rt != -ENOENT ? rt : rb)));
		return ST_CONFLICT;
	}
	if (e->kind == 'c') {
		if (rt == -ENOENT)
			return ST_NOTHING;
		if (ht == e->new_hash)
			return ST_REMOVE;
		snprintf(why, size, "changed since the import (move it away to undo)");
		return ST_CONFLICT;
	}
	if (rb == 0) {
		if (hb != e->old_hash) {
			snprintf(why, size, "its copy in the backup is not what was moved there");
			return ST_CONFLICT;
		}
		if (rt == -ENOENT)
			return ST_RESTORE;
		if (e->kind == 'r' && ht == e->new_hash)
			return ST_REMOVE_RESTORE;
		if (streq(e->rel, "qemu") && is_vfiohook_link(t))
			return ST_REMOVE_RESTORE; /* the link vfiohook install made */
		snprintf(why, size, "%s since the import (move it away to undo)",
			 e->kind == 'r' ? "changed" : "there again");
		return ST_CONFLICT;
	}
	/* not in the backup: never moved (an import that stopped half way), or back already */
	if (rt == 0 && ht == e->old_hash)
		return ST_NOTHING;
	snprintf(why, size, "missing from the backup");
	return ST_CONFLICT;
}

static int undo_apply(const char *hooks, const char *backup, const struct entry *e, enum step s)
{
	char t[PATH_MAX], b[PATH_MAX];

	snprintf(t, sizeof(t), "%s/%s", hooks, e->rel);
	snprintf(b, sizeof(b), "%s/%s", backup, e->rel);
	if ((s == ST_REMOVE || s == ST_REMOVE_RESTORE) && unlink(t) < 0 && errno != ENOENT)
		return negative_errno();
	if (s == ST_RESTORE || s == ST_REMOVE_RESTORE) {
		struct stat st;
		int r = make_parents(hooks, e->rel, 0755);
		if (r < 0)
			return r;
		r = move_file(b, t);
		if (r < 0)
			return r;
		if (lstat(t, &st) == 0 && !S_ISLNK(st.st_mode)) {
			if (geteuid() == 0 && lchown(t, e->uid, e->gid) < 0)
				return negative_errno();
			if (chmod(t, e->mode & 07777) < 0)
				return negative_errno();
		} else if (geteuid() == 0 && lchown(t, e->uid, e->gid) < 0)
			return negative_errno();
	}
	return 0;
}

/* Everything of the manifest back; with check, nothing when anything is in the way. */
static int undo_entries(const char *hooks, const char *backup, const struct entry *e, size_t n, bool check,
			bool dry, struct buf *out)
{
	int ret = 0;

	if (check) {
		unsigned conflicts = 0;
		for (size_t i = 0; i < n; i++) {
			char why[256];
			if (undo_step(hooks, backup, &e[i], why, sizeof(why)) == ST_CONFLICT) {
				fprintf(stderr, "vfiohook: %s%s/%s: %s\n", host_root(), HOOKS, e[i].rel, why);
				conflicts++;
			}
		}
		if (conflicts) {
			fprintf(stderr, "vfiohook: nothing was undone\n");
			return -EEXIST;
		}
	}
	for (size_t i = n; i-- > 0;) {
		char why[256];
		enum step s = undo_step(hooks, backup, &e[i], why, sizeof(why));
		int r = 0;

		if (s == ST_CONFLICT) {
			fprintf(stderr, "vfiohook: %s/%s: %s; left\n", HOOKS, e[i].rel, why);
			ret = -EEXIST;
			continue;
		}
		if (!dry)
			r = undo_apply(hooks, backup, &e[i], s);
		if (r < 0) {
			fprintf(stderr, "vfiohook: cannot put back %s/%s: %s\n", HOOKS, e[i].rel, strerror(-r));
			ret = r;
			continue;
		}
		if (out && s != ST_NOTHING)
			buf_printf(out, "%s %s/%s%s\n",
				   s == ST_REMOVE ? "remove" : s == ST_RESTORE ? "restore" : "replace with the original:",
				   HOOKS, e[i].rel,
				   s == ST_REMOVE_RESTORE && e[i].kind == 'm' ? " (the link vfiohook install made is removed)" : "");
	}
	return ret;
}

/* --- doing it ----------------------------------------------------------------------------- */

static int make_backup_dir(struct import *im)
{
	for (unsigned i = 1; i < 100; i++) {
		free(im->backup);
		free(im->backup_name);
		im->backup = NULL;
		im->backup_name = NULL;
		if ((i == 1 ? asprintf(&im->backup_name, "%s%s", BACKUP_PREFIX, im->stamp)
			    : asprintf(&im->backup_name, "%s%s-%u", BACKUP_PREFIX, im->stamp, i)) < 0 ||
		    asprintf(&im->backup, "%s/%s", im->hooks, im->backup_name) < 0) {
			im->backup = NULL;
			return -ENOMEM;
		}
		if (mkdir(im->backup, 0700) == 0)
			return 0;
		if (errno != EEXIST)
			return negative_errno();
	}
	return -EEXIST;
}

static int entry_add(struct entry **e, size_t *n, char kind, const char *rel, const struct stat *st,
		     uint64_t old_hash, const char *text, mode_t new_mode)
{
	struct entry *ne = realloc(*e, (*n + 1) * sizeof(**e)), *x;

	if (!ne)
		return -ENOMEM;
	*e = ne;
	x = &ne[*n];
	memset(x, 0, sizeof(*x));
	x->kind = kind;
	x->rel = strdup(rel);
	if (!x->rel)
		return -ENOMEM;
	x->mode = st->st_mode;
	x->uid = st->st_uid;
	x->gid = st->st_gid;
	x->old_hash = old_hash;
	x->text = text;
	x->new_mode = new_mode;
	if (text)
		x->new_hash = fnv(text, strlen(text));
	(*n)++;
	return 0;
}

/* The files import changes, in the order it changes them. */
static int plan_entries(struct import *im, struct entry **ret, size_t *ret_n)
{
	struct entry *e = NULL;
	size_t n = 0;
	int r = 0;

	if (im->qemu == Q_DISPATCHER) {
		uint64_t h = 0;
		r = hash_path(im->qemu_path, &h);
		if (r >= 0)
			r = entry_add(&e, &n, 'm', "qemu", &im->qemu_st, h, NULL, 0);
	}
	if (r >= 0 && im->conf.kind == C_SHELL)
		r = entry_add(&e, &n, 'r', "kvm.conf", &im->conf.st, im->conf_hash, im->newconf, 0600);
	else if (r >= 0) {
		struct stat root = { .st_mode = S_IFREG | 0600 };
		r = entry_add(&e, &n, 'c', "kvm.conf", &root, 0, im->newconf, 0600);
	}
	for (size_t i = 0; r >= 0 && i < im->n_vms; i++)
		for (size_t j = 0; r >= 0 && j < im->vms[i].n_sc; j++) {
			struct script *sc = &im->vms[i].sc[j];
			if (sc->fate == S_LEAVE)
				continue;
			/* the new script is root's, and no one else can write it (vfiohook refuses it otherwise) */
			r = entry_add(&e, &n, sc->fate == S_MOVE ? 'm' : 'r', sc->rel, &sc->st, fnv(sc->text, sc->len),
				      sc->fate == S_MOVE ? NULL : sc->newtext, sc->st.st_mode & 0755);
		}
	if (r < 0) {
		entries_done(e, n);
		return r;
	}
	*ret = e;
	*ret_n = n;
	return 0;
}

/* Writes the manifest, then moves and writes; on failure everything is put back. */
static int apply(struct import *im, struct entry *e, size_t n)
{
	_cleanup_free_ char *manifest = NULL, *mpath = NULL;
	int r;

	r = make_backup_dir(im);
	if (r < 0) {
		fprintf(stderr, "vfiohook: cannot create the backup directory in %s: %s\n", im->hooks, strerror(-r));
		return r;
	}
	manifest = manifest_text(im, e, n);
	if (!manifest || asprintf(&mpath, "%s/%s", im->backup, MANIFEST) < 0) {
		mpath = NULL;
		r = -ENOMEM;
		goto fail;
	}
	r = write_file(mpath, manifest, 0600, 0, 0);
	if (r < 0) {
		fprintf(stderr, "vfiohook: cannot write %s: %s\n", mpath, strerror(-r));
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		char t[PATH_MAX], b[PATH_MAX];

		snprintf(t, sizeof(t), "%s/%s", im->hooks, e[i].rel);
		snprintf(b, sizeof(b), "%s/%s", im->backup, e[i].rel);
		if (e[i].text) {
			const char *slash = strrchr(t, '/');
			if (asprintf(&e[i].tmp, "%.*s/.%s.vfiohook-import", (int)(slash - t), t, slash + 1) < 0) {
				e[i].tmp = NULL;
				r = -ENOMEM;
				goto fail;
			}
			(void)unlink(e[i].tmp);
			r = write_file(e[i].tmp, e[i].text, e[i].new_mode, 0, 0);
			if (r < 0) {
				fprintf(stderr, "vfiohook: cannot write %s: %s\n", e[i].tmp, strerror(-r));
				free(e[i].tmp);
				e[i].tmp = NULL;
				goto fail;
			}
		}
		if (e[i].kind != 'c') {
			r = make_parents(im->backup, e[i].rel, 0700);
			if (r >= 0)
				r = move_file(t, b);
			if (r < 0) {
				fprintf(stderr, "vfiohook: cannot move %s to %s: %s\n", t, b, strerror(-r));
				goto fail;
			}
		}
		if (e[i].tmp) {
			r = move_file(e[i].tmp, t);
			if (r < 0) {
				fprintf(stderr, "vfiohook: cannot put the new %s in place: %s\n", t, strerror(-r));
				goto fail;
			}
			free(e[i].tmp);
			e[i].tmp = NULL;
		}
	}
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		if (e[i].tmp) {
			(void)unlink(e[i].tmp);
			free(e[i].tmp);
			e[i].tmp = NULL;
		}
	if (undo_entries(im->hooks, im->backup, e, n, false, false, NULL) < 0)
		fprintf(stderr, "vfiohook: the import could not be undone completely; the backup %s is kept\n",
			im->backup);
	else {
		if (mpath)
			(void)unlink(mpath);
		remove_empty_dirs(im->backup);
	}
	return r;
}

/* conf_load on a copy of text in /tmp: the new kvm.conf validated before anything changes. */
static int validate(struct import *im, const char *text, unsigned *n_vms)
{
	char path[] = "/tmp/vfiohook-import-XXXXXX";
	struct conf c;
	int fd, r;

	fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "vfiohook: cannot validate the new kvm.conf: %s\n", strerror(errno));
		return negative_errno();
	}
	close(fd);
	unlink(path);
	r = write_file(path, text, 0600, 0, 0);
	if (r < 0) {
		fprintf(stderr, "vfiohook: cannot validate the new kvm.conf: %s\n", strerror(-r));
		return r;
	}
	r = conf_load(path, im->o->root != NULL, &c);
	unlink(path);
	for (size_t i = 0; i < c.n_errors; i++) {
		const char *msg = c.errors[i];
		if (strncmp(msg, path, strlen(path)) == 0)
			msg += strlen(path);
		fprintf(stderr, "vfiohook: the new kvm.conf%s\n", msg);
	}
	*n_vms = (unsigned)c.n_vms;
	conf_done(&c);
	return r;
}

/* --- undo --------------------------------------------------------------------------------- */

static int import_undo(const struct options *o)
{
	_cleanup_free_ char *hooks = NULL, *real_hooks = NULL, *real_parent = NULL, *dir = NULL, *mpath = NULL;
	char cand[PATH_MAX], parent[PATH_MAX], err[256];
	struct entry *e = NULL;
	struct buf out = { 0 };
	struct stat st;
	const char *base;
	size_t n = 0, l;
	int r;

	hooks = malloc(PATH_MAX);
	if (!hooks || host_path(hooks, PATH_MAX, HOOKS) < 0)
		return EXIT_USAGE;
	/* DIR as the host sees it (under --root), or as given */
	if (!(o->root && o->undo_dir[0] == '/' && host_path(cand, sizeof(cand), "%s", o->undo_dir) == 0 &&
	      lstat(cand, &st) == 0))
		snprintf(cand, sizeof(cand), "%s", o->undo_dir);
	l = strlen(cand);
	while (l > 1 && cand[l - 1] == '/')
		cand[--l] = '\0';
	base = strrchr(cand, '/') ? strrchr(cand, '/') + 1 : cand;
	snprintf(parent, sizeof(parent), "%.*s", (int)(base - cand), cand);
	if (!parent[0])
		snprintf(parent, sizeof(parent), ".");
	real_hooks = realpath(hooks, NULL);
	real_parent = realpath(parent, NULL);
	if (lstat(cand, &st) < 0 || !S_ISDIR(st.st_mode) || strncmp(base, BACKUP_PREFIX, strlen(BACKUP_PREFIX)) != 0 ||
	    !real_hooks || !real_parent || !streq(real_hooks, real_parent) ||
	    (geteuid() == 0 && st.st_uid != 0) || (st.st_mode & 022)) {
		fprintf(stderr, "vfiohook: %s is not an import backup (a directory %s* of root's in %s%s)\n",
			o->undo_dir, BACKUP_PREFIX, host_root(), HOOKS);
		return EXIT_FAILED;
	}
	if (asprintf(&dir, "%s/%s", real_hooks, base) < 0) {
		dir = NULL;
		return EXIT_FAILED;
	}
	r = manifest_read(dir, &e, &n, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vfiohook: %s is not an import backup: %s\n", o->undo_dir, err);
		return EXIT_FAILED;
	}
	r = undo_entries(real_hooks, dir, e, n, true, o->dry_run, &out);
	if (r == -EEXIST && !out.len) {
		entries_done(e, n);
		buf_done(&out);
		return EXIT_FAILED;
	}
	printf("vfiohook import --undo%s: %s\n%s", o->dry_run ? " (dry run: nothing is changed)" : "", o->undo_dir,
	       buf_str(&out));
	if (r < 0) {
		printf("not everything could be put back; the backup %s is kept\n", o->undo_dir);
		entries_done(e, n);
		buf_done(&out);
		return EXIT_FAILED;
	}
	if (!o->dry_run) {
		if (asprintf(&mpath, "%s/%s", dir, MANIFEST) >= 0)
			(void)unlink(mpath);
		else
			mpath = NULL;
		remove_empty_dirs(dir);
		if (access(dir, F_OK) == 0)
			printf("the backup directory is not empty (files added since?): left as it is\n");
		else
			printf("everything is as it was before the import; the backup directory is removed\n");
	}
	entries_done(e, n);
	buf_done(&out);
	return EXIT_OK;
}

/* --- the command -------------------------------------------------------------------------- */

static void import_done(struct import *im)
{
	for (size_t i = 0; i < im->n_vms; i++)
		vmi_done(&im->vms[i]);
	free(im->vms);
	shconf_done(&im->conf);
	sv_done(&im->notes);
	free(im->hooks);
	free(im->qemu_path);
	free(im->conf_path);
	free(im->backup);
	free(im->backup_name);
	free(im->newconf);
	re_done();
}

static int import_run(struct import *im)
{
	const struct options *o = im->o;
	struct entry *e = NULL;
	struct buf b = { 0 };
	size_t n = 0;
	unsigned n_vms = 0, changes = 0;
	time_t now = time(NULL);
	struct tm tm;
	int r;

	localtime_r(&now, &tm);
	strftime(im->stamp, sizeof(im->stamp), "%Y%m%d-%H%M%S", &tm);
	strftime(im->when, sizeof(im->when), "%Y-%m-%d %H:%M:%S", &tm);
	if (asprintf(&im->backup_name, "%s%s", BACKUP_PREFIX, im->stamp) < 0) {
		im->backup_name = NULL;
		return EXIT_FAILED;
	}
	im->hooks = malloc(PATH_MAX);
	if (!im->hooks || host_path(im->hooks, PATH_MAX, HOOKS) < 0 ||
	    asprintf(&im->qemu_path, "%s/qemu", im->hooks) < 0 || asprintf(&im->conf_path, "%s/kvm.conf", im->hooks) < 0)
		return EXIT_USAGE;
	if (o->config || o->hooks_dir)
		fprintf(stderr, "vfiohook: import works on %s%s; --config and --hooks-dir are not used\n", host_root(),
			HOOKS);

	r = load(im);
	if (r < 0)
		return EXIT_FAILED;
	for (size_t i = 0; i < im->n_vms; i++) {
		n_vms += vm_has_settings(&im->vms[i]);
		for (size_t j = 0; j < im->vms[i].n_sc; j++)
			changes += im->vms[i].sc[j].fate != S_LEAVE;
	}
	if (!n_vms && !changes) {
		printf("vfiohook import: nothing to import in %s%s: no qemu.d/VM/prepare/begin or release/end script "
		       "has a step vfiohook does%s\n", host_root(), HOOKS,
		       im->qemu == Q_DISPATCHER ? " (vfiohook install replaces the dispatcher)" : "");
		return EXIT_FAILED;
	}
	if (im->conf.kind == C_OURS) {
		fprintf(stderr, "vfiohook: %s is not the tutorial's shell-style kvm.conf (vfiohook's own?); refusing to "
			"replace it: move it away, or merge by hand what --dry-run prints\n", im->conf_path);
		if (!o->dry_run)
			return EXIT_FAILED;
	}

	/* the new files, then their check, before anything changes */
	for (size_t i = 0; i < im->n_vms; i++)
		for (size_t j = 0; j < im->vms[i].n_sc; j++) {
			struct script *sc = &im->vms[i].sc[j];
			if (sc->fate == S_REPLACE)
				sc->newtext = residual(im, &im->vms[i], sc);
			else if (sc->fate == S_SOURCE)
				sc->newtext = source_replaced(im, sc);
			if ((sc->fate == S_REPLACE || sc->fate == S_SOURCE) && !sc->newtext)
				return log_fail(NULL, ENOMEM, "out of memory"), EXIT_FAILED;
		}
	im->newconf = new_conf(im);
	if (!im->newconf)
		return log_fail(NULL, ENOMEM, "out of memory"), EXIT_FAILED;
	r = validate(im, im->newconf, &n_vms);
	if (r < 0) {
		fprintf(stderr, "vfiohook: the new kvm.conf does not validate; nothing was changed\n");
		return EXIT_FAILED;
	}
	report(im, &b, o->dry_run, n_vms);

	if (o->dry_run) {
		printf("%s\n--- new %s/kvm.conf ---\n%s", buf_str(&b), HOOKS, im->newconf);
		for (size_t i = 0; i < im->n_vms; i++)
			for (size_t j = 0; j < im->vms[i].n_sc; j++) {
				struct script *sc = &im->vms[i].sc[j];
				if (sc->newtext)
					printf("--- new %s/%s ---\n%s", HOOKS, sc->rel, sc->newtext);
			}
		printf("--- the files would go to %s/%s/ ---\n", HOOKS, im->backup_name);
		buf_done(&b);
		return im->conf.kind == C_OURS ? EXIT_FAILED : EXIT_OK;
	}

	r = plan_entries(im, &e, &n);
	if (r < 0) {
		buf_done(&b);
		return log_fail(NULL, r, "out of memory"), EXIT_FAILED;
	}
	r = apply(im, e, n);
	if (r >= 0) {
		struct conf c;
		/* the file as it is now in place, through the checks the hook makes */
		r = conf_load(im->conf_path, o->root != NULL, &c);
		for (size_t i = 0; i < c.n_errors; i++)
			fprintf(stderr, "vfiohook: %s\n", c.errors[i]);
		conf_done(&c);
		if (r < 0) {
			fprintf(stderr, "vfiohook: the new kvm.conf does not load in place; undoing the import\n");
			if (undo_entries(im->hooks, im->backup, e, n, false, false, NULL) >= 0) {
				_cleanup_free_ char *mpath = NULL;
				if (asprintf(&mpath, "%s/%s", im->backup, MANIFEST) >= 0)
					(void)unlink(mpath);
				else
					mpath = NULL;
				remove_empty_dirs(im->backup);
			}
		}
	}
	entries_done(e, n);
	if (r < 0) {
		buf_done(&b);
		fprintf(stderr, "vfiohook: import failed; the hooks directory is as it was\n");
		return EXIT_FAILED;
	}
	printf("%s\nnew kvm.conf: %s%s/kvm.conf (mode 0600), %u VM%s, valid\n", buf_str(&b), host_root(), HOOKS, n_vms,
	       n_vms == 1 ? "" : "s");
	printf("backup: %s/%s (\"vfiohook import --undo %s/%s\" puts everything back)\n", HOOKS, im->backup_name, HOOKS,
	       im->backup_name);
	printf("next: vfiohook check%s\n",
	       im->qemu == Q_VFIOHOOK ? "" : "; then vfiohook install (makes vfiohook the qemu hook)");
	buf_done(&b);
	return EXIT_OK;
}

int cmd_import(const struct options *o)
{
	struct import im = { .o = o };
	int r;

	if (o->undo_dir) {
		r = import_undo(o);
		re_done();
		return r;
	}
	r = import_run(&im);
	import_done(&im);
	return r;
}
