/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "dlib.h"
#include "hook.h"
#include "host.h"
#include "install.h"
#include "pin.h"
#include "log.h"
#include "virt.h"

#ifndef VERSION
#define VERSION "0"
#endif

static void usage(FILE *f)
{
	fputs("Usage: vfiohook [OPTIONS] VM OP SUBOP [EXTRA]\n"
	      "       vfiohook [OPTIONS] check [--xml FILE] [VM...]\n"
	      "       vfiohook [OPTIONS] doctor [--xml FILE] [--json] VM\n"
	      "       vfiohook [OPTIONS] release VM\n"
	      "       vfiohook [OPTIONS] forget VM\n"
	      "       vfiohook [OPTIONS] install\n"
	      "       vfiohook [OPTIONS] import [--dry-run] | import --undo DIR\n"
	      "       vfiohook [OPTIONS] pin [--host-cores N] [--xml FILE] [--check] VM\n"
	      "       vfiohook [OPTIONS] status [--json] [VM]\n"
	      "       vfiohook [OPTIONS] groups\n"
	      "       vfiohook [OPTIONS] vbios check FILE | fix IN OUT | dump BDF OUT\n"
	      "       (installed as /etc/libvirt/hooks/qemu, libvirt runs it as: qemu VM OP SUBOP EXTRA)\n"
	      "\n"
	      "Gives a libvirt VM its passthrough GPU on 'prepare begin' and gives it back to the\n"
	      "host on 'release end', with rollback; runs qemu.d/VM/OP/SUBOP/ drop-in scripts.\n"
	      "Everything prepare does is planned and checked before the first change.\n"
	      "\n"
	      "  check      the checks of prepare for every VM of kvm.conf (or the VMs named),\n"
	      "             against this host as it is now; changes nothing\n"
	      "  doctor     the tutorials' advice checked for VM (domain XML, kvm.conf, host), with fixes\n"
	      "  release    undo what is recorded for VM (after a failed undo)\n"
	      "  forget     print and drop what is recorded for VM, undoing nothing\n"
	      "  install    make this binary libvirt's hook (a foreign hook is backed up first)\n"
	      "  import     turn a passthrough tutorial's kvm.conf and scripts into vfiohook settings\n"
	      "             (backed up first; --undo DIR puts everything back)\n"
	      "  pin        CPU pinning for VM from the host's topology (--host-cores N kept for\n"
	      "             the host, default 1), to paste; --check compares the domain's <cputune>\n"
	      "  vbios      check FILE | fix IN OUT | dump BDF OUT: verify, de-header or read a GPU ROM\n"
	      "  status     what each VM holds now (from /run/vfiohook); --json for scripts\n"
	      "  groups     the IOMMU groups, and the pci.devices line of each GPU's\n"
	      "\n"
	      "  -c, --config FILE     configuration (default " CONF_DEFAULT_PATH ")\n"
	      "  -n, --dry-run         print the plan, change nothing; exit as the real run would\n"
	      "  -v, --verbose         log to stderr as well as to the journal\n"
	      "      --xml FILE        check: the domain XML of the one VM named\n"
	      "      --root DIR        act on DIR/sys, DIR/proc, DIR/dev, DIR/run (tests, demos)\n"
	      "      --hooks-dir DIR   drop-in scripts (default " HOOKS_DIR ")\n"
	      "  -h, --help            this help\n"
	      "      --version         version\n"
	      "\n"
	      "Exit status: 0 done or nothing to do, 1 failed or refused (host left as it was),\n"
	      "2 usage or configuration error, 3 failed and not everything could be undone.\n",
	      f);
}

static const struct option longopts[] = {
	{ "config", required_argument, NULL, 'c' }, { "dry-run", no_argument, NULL, 'n' },
	{ "verbose", no_argument, NULL, 'v' },      { "root", required_argument, NULL, 'R' },
	{ "hooks-dir", required_argument, NULL, 'H' }, { "xml", required_argument, NULL, 'X' },
	{ "json", no_argument, NULL, 'J' },         { "undo", required_argument, NULL, 'U' },
	{ "help", no_argument, NULL, 'h' },         { "version", no_argument, NULL, 'V' },
	{ "host-cores", required_argument, NULL, 'P' }, { "check", no_argument, NULL, 'K' },
	{ NULL, 0, NULL, 0 },
};

/* One option; 0, 1 when it was --help or --version (done), or -EINVAL. */
static int option(int c, struct options *o)
{
	switch (c) {
	case 'c': o->config = optarg; return 0;
	case 'n': o->dry_run = true; return 0;
	case 'v': o->verbose = true; return 0;
	case 'R': o->root = optarg; return 0;
	case 'H': o->hooks_dir = optarg; return 0;
	case 'X': o->xml_file = optarg; return 0;
	case 'J': o->json = true; return 0;
	case 'U': o->undo_dir = optarg; return 0;
	case 'P': o->host_cores = optarg; return 0;
	case 'K': o->pin_check = true; return 0;
	case 'h': usage(stdout); return 1;
	case 'V': printf("vfiohook %s\n", VERSION); return 1;
	default: return -EINVAL;
	}
}

static int cmd_check(const struct options *o);
int cmd_doctor(const struct options *o); /* doctor.c */
int cmd_import(const struct options *o); /* import.c */
int cmd_vbios(const struct options *o); /* vbios.c */
static int cmd_release(const struct options *o);
static int cmd_forget(const struct options *o);

/* The subcommands: a word, how many arguments follow it, and what runs it. */
static const struct subcommand {
	const char *word;
	enum command cmd;
	int min, max;
	int (*fn)(const struct options *o);
	bool xml, json, undo; /* the options it takes beyond the common ones */
} commands[] = {
	{ "check", CMD_CHECK, 0, INT_MAX, cmd_check, true, false, false },
	{ "doctor", CMD_OTHER, 1, 1, cmd_doctor, true, true, false },
	{ "release", CMD_RELEASE, 1, 1, cmd_release, false, false, false },
	{ "forget", CMD_FORGET, 1, 1, cmd_forget, false, false, false },
	{ "import", CMD_OTHER, 0, 0, cmd_import, false, false, true },
	{ "status", CMD_OTHER, 0, 1, cmd_status, false, true, false },
	{ "groups", CMD_OTHER, 0, 0, cmd_groups, false, false, false },
	{ "install", CMD_OTHER, 0, 0, cmd_install, false, false, false },
	{ "pin", CMD_OTHER, 1, 1, cmd_pin, true, false, false },
	{ "vbios", CMD_OTHER, 2, 3, cmd_vbios, false, false, false },
};

static const struct subcommand *command;

static int parse_args(int argc, char **argv, struct options *o)
{
	const char *base = strrchr(argv[0], '/');
	int c, r;

	base = base ? base + 1 : argv[0];
	/* libvirt: any name but ours, exactly four arguments, no options */
	if (!streq(base, "vfiohook") && argc == 5) {
		o->hook_mode = true;
		o->args = argv + 1;
		o->n_args = 4;
		return 0;
	}
	while ((c = getopt_long(argc, argv, "+c:nvh", longopts, NULL)) >= 0)
		if ((r = option(c, o)) != 0)
			return r;
	o->args = argv + optind;
	o->n_args = argc - optind;
	for (size_t i = 0; o->n_args >= 1 && i < ELEMENTSOF(commands); i++) {
		if (!streq(o->args[0], commands[i].word))
			continue;
		/* a VM may be called "check": "check prepare begin" is an event */
		if (o->n_args >= 3 && hook_op_from_string(o->args[1]) >= 0)
			break;
		command = &commands[i];
		o->cmd = command->cmd;
		/*
		 * Options may also follow the command, before or after its words (vfiohook pin win10
		 * --check): a fresh scan (optind 0) of what follows the command word, in GNU order.
		 */
		{
			int first = optind;
			optind = 0;
			while ((c = getopt_long(argc - first, argv + first, "c:nvh", longopts, NULL)) >= 0)
				if ((r = option(c, o)) != 0)
					return r;
			o->args = argv + first + optind;
			o->n_args = argc - first - optind;
		}
		if (o->n_args < command->min || o->n_args > command->max || (o->xml_file && !command->xml) ||
		    (o->json && !command->json) || (o->undo_dir && !command->undo) ||
		    ((o->host_cores || o->pin_check) && !streq(command->word, "pin")))
			return -EINVAL;
		if (o->xml_file && o->n_args != 1)
			return -EINVAL;
		return 0;
	}
	if (o->xml_file || o->json || o->undo_dir || o->host_cores || o->pin_check || o->n_args < 3 || o->n_args > 4)
		return -EINVAL;
	/* by hand, an op libvirt does not have is a typo, not an event to ignore */
	if (hook_op_from_string(o->args[1]) < 0 || hook_subop_from_string(o->args[2]) < 0) {
		fprintf(stderr, "vfiohook: unknown event \"%s %s\" (libvirt's are prepare, start, started, stopped, "
				"release, migrate, restore, reconnect, attach; begin, end or -)\n",
			o->args[1], o->args[2]);
		return -EINVAL;
	}
	return 0;
}

/* All of stdin, up to the cap; the rest is drained so libvirt's writer never blocks. */
static int read_stdin(char **ret, size_t *ret_len)
{
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap + 1);
	bool over = false;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;
		if (len == cap && !over) {
			char *nb;
			if (cap > DOMAIN_XML_MAX) {
				over = true;
				continue;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		if (over) {
			static char sink[65536];
			n = read(STDIN_FILENO, sink, sizeof(sink));
		} else
			n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* no stdin at all (closed): treat as empty */
		}
		if (n == 0)
			break;
		if (!over)
			len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = buf;
	/* a document over the cap is reported by domain_parse() as too large */
	*ret_len = over ? (size_t)DOMAIN_XML_MAX + 1 : len;
	return 0;
}

/* Shell use only (never from the hook: libvirt is waiting for us): the live XML of a domain. */
static char *fetch_domain_xml(const char *name, bool *unreachable)
{
	char *xml;
	int r = virt_domain_xml(name, 0, &xml);

	*unreachable = r == -EOPNOTSUPP || r == -EHOSTUNREACH;
	return r < 0 ? NULL : xml;
}

/* Parses the domain XML of run into dom; 0, -ENODATA when there is none, or -EINVAL (err). */
static int load_domain(struct run *run, struct domain *dom, char *err, size_t errlen)
{
	int r;

	if (!run->xml_len)
		return -ENODATA;
	r = domain_parse(run->xml, run->xml_len, dom, err, errlen);
	if (r >= 0 && !streq(dom->name, run->vm_name)) {
		snprintf(err, errlen, "the domain XML describes \"%s\", not \"%s\"", dom->name, run->vm_name);
		r = -EINVAL;
	}
	if (r >= 0)
		run->dom = dom;
	return r;
}

/* Loads kvm.conf; prints its errors; EXIT_OK or EXIT_USAGE. */
static int load_conf(const struct options *o, struct conf *c)
{
	const char *config = o->config_path;
	int r = conf_load(config, o->root != NULL, c);

	if (r == -ENOENT) {
		fprintf(stderr, "vfiohook: %s: does not exist (no VM is configured)\n", config);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < c->n_errors; i++)
		fprintf(stderr, "%s\n", c->errors[i]);
	if (r < 0) {
		if (c->n_errors == 0)
			fprintf(stderr, "vfiohook: %s: %s\n", config, strerror(-r));
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* Does this VM's plan need its domain XML? */
static bool needs_domain(const struct vm_conf *vm)
{
	return vm->pci_from_hostdev || (vm->hugepages && !vm->hp_pages) || streq(vm->governor_cpus, "pinned") ||
	       streq(vm->host_cpus, "auto");
}

static int check_one(const struct options *o, const struct conf *c, const struct vm_conf *vm)
{
	_cleanup_free_ char *xml = NULL;
	struct run run = { .vm_name = vm->name, .op = "check", .subop = "-", .extra = "-", .conf = c, .vm = vm,
			   .hooks_dir = o->hooks_path, .relax_owner = o->root != NULL, .dry_run = true,
			   .event = HOOK_PREPARE, .phase = HOOK_BEGIN };
	_cleanup_free_ struct domain *dom = calloc(1, sizeof(*dom));
	char err[512];
	bool unreachable = false;
	int r;

	if (!dom)
		return 1;

	if (o->xml_file) {
		r = host_read_file(o->xml_file, DOMAIN_XML_MAX + 1, &xml);
		if (r < 0) {
			printf("  error: %s: cannot read %s: %s\n", vm->name, o->xml_file, strerror(-r));
			return 1;
		}
	} else if (needs_domain(vm))
		xml = fetch_domain_xml(vm->name, &unreachable);
	run.xml = xml;
	run.xml_len = xml ? strlen(xml) : 0;
	r = load_domain(&run, dom, err, sizeof(err));
	if (r == -ENODATA && needs_domain(vm)) {
		printf("  warning: %s: not checked: its settings need the domain XML, and %s (--xml FILE gives it)\n",
		       vm->name, unreachable ? "libvirt is not reachable" : "libvirt does not know the domain");
		return 0;
	}
	if (r < 0 && r != -ENODATA) {
		printf("  error: %s: %s\n", vm->name, err);
		return 1;
	}
	return check_vm(&run);
}

static int cmd_check(const struct options *o)
{
	const char *config = o->config_path;
	struct conf c;
	unsigned errors = 0;
	int r = load_conf(o, &c);

	if (r != EXIT_OK) {
		conf_done(&c);
		return r;
	}
	for (int i = 0; i < o->n_args; i++)
		if (!conf_find(&c, o->args[i])) {
			fprintf(stderr, "vfiohook: %s does not configure a VM named \"%s\"\n", config, o->args[i]);
			conf_done(&c);
			return EXIT_USAGE;
		}
	printf("%s: OK, %zu VM%s\n", config, c.n_vms, c.n_vms == 1 ? "" : "s");
	printf("host:\n");
	errors += check_host();
	for (size_t i = 0; i < c.n_vms; i++) {
		bool named = o->n_args == 0;
		for (int j = 0; j < o->n_args; j++)
			named |= streq(o->args[j], c.vms[i].name);
		if (named)
			errors += check_one(o, &c, &c.vms[i]);
	}
	conf_done(&c);
	return errors ? EXIT_FAILED : EXIT_OK;
}

static int run_event(const struct options *o)
{
	const char *config = o->config_path, *hooks_dir = o->hooks_path;
	struct run run = { 0 };
	struct conf conf;
	_cleanup_free_ struct domain *dom = calloc(1, sizeof(*dom));
	_cleanup_free_ char *xml = NULL;
	char *fetched = NULL;
	char err[512];
	size_t xml_len = 0;
	bool is_prepare, is_release, by_hand = o->cmd == CMD_RELEASE || o->cmd == CMD_FORGET;
	int r, ret;

	run.vm_name = o->args[0];
	run.op = by_hand ? (o->cmd == CMD_RELEASE ? "release" : "forget") : o->args[1];
	run.subop = by_hand ? "end" : o->args[2];
	run.extra = o->n_args > 3 ? o->args[3] : "-";
	run.event = by_hand ? HOOK_RELEASE : hook_op_from_string(run.op);
	run.phase = by_hand ? HOOK_END : hook_subop_from_string(run.subop);
	run.hooks_dir = hooks_dir;
	run.relax_owner = o->root != NULL;
	run.dry_run = o->dry_run;
	is_prepare = run.event == HOOK_PREPARE && run.phase == HOOK_BEGIN;
	is_release = run.event == HOOK_RELEASE && run.phase == HOOK_END;
	log_set_context(run.vm_name, run.op);
	if (!dom)
		return log_fail(NULL, ENOMEM, "out of memory"), EXIT_FAILED;

	if (!by_hand && (o->hook_mode || !isatty(STDIN_FILENO))) {
		r = read_stdin(&xml, &xml_len);
		if (r < 0)
			return log_fail(NULL, r, "cannot read the domain XML"), EXIT_FAILED;
	}
	run.xml = xml;
	run.xml_len = xml_len;

	if (!vm_name_is_safe(run.vm_name)) {
		if (!is_prepare && !by_hand)
			return EXIT_OK;
		log_fail(NULL, 0, "refusing VM name \"%s\": not a libvirt domain name", run.vm_name);
		return EXIT_USAGE;
	}

	/*
	 * prepare always reads all of kvm.conf: a broken one must not let a VM it may configure
	 * start unnoticed. A VM whose name appears nowhere in it (nor in what it includes) is
	 * not one of its VMs: it starts, with a warning.
	 */
	r = conf_load_for(config, o->root != NULL, is_prepare ? NULL : run.vm_name, &conf);
	if (r < 0 && r != -ENOENT) {
		for (size_t i = 0; i < conf.n_errors; i++)
			log_error("config", 0, "%s", conf.errors[i]);
		if (is_prepare && !conf_file_may_name(config, o->root != NULL, run.vm_name)) {
			log_warning("config", 0, "%s is broken, but cannot name %s: starting it without vfiohook's stages",
				    config, run.vm_name);
			is_prepare = false;
		}
		if (is_prepare) {
			if (conf.n_errors)
				log_fail(NULL, 0, "%s", conf.errors[0]);
			else
				log_fail(NULL, r, "cannot read %s", config);
			conf_done(&conf);
			return EXIT_USAGE;
		}
		conf_done(&conf);
		memset(&conf, 0, sizeof(conf));
		conf.lock_timeout = 60;
	}
	run.conf = &conf;
	run.vm = conf_find(&conf, run.vm_name);

	if (o->cmd == CMD_FORGET) {
		ret = hook_forget(&run);
		goto out;
	}
	if (run.vm && (is_prepare || is_release)) {
		if (xml_len == 0 && !o->hook_mode) {
			bool unreachable;
			fetched = fetch_domain_xml(run.vm_name, &unreachable);
			if (fetched) {
				run.xml = fetched;
				run.xml_len = strlen(fetched);
			}
		}
		r = load_domain(&run, dom, err, sizeof(err));
		if (r < 0 && is_prepare && (o->hook_mode || r != -ENODATA)) {
			log_fail("domain", 0, "%s", r == -ENODATA ? "no domain XML on standard input" : err);
			ret = EXIT_FAILED;
			goto out;
		} else if (r < 0)
			log_warning("domain", 0, "no usable domain XML (%s); going by kvm.conf alone",
				    r == -ENODATA ? "none given" : err);
		if (run.dom && run.vm->uuid[0] && !streq(run.vm->uuid, run.dom->uuid)) {
			log_warning("config", 0, "UUID %s of %s does not match kvm.conf (%s); not managing it",
				    run.dom->uuid, run.vm_name, run.vm->uuid);
			run.vm = NULL;
		}
	}
	ret = o->cmd == CMD_RELEASE ? hook_release_by_hand(&run) : hook_dispatch(&run);
out:
	free(fetched);
	conf_done(&conf);
	return ret;
}

static int cmd_release(const struct options *o)
{
	return run_event(o);
}

static int cmd_forget(const struct options *o)
{
	return run_event(o);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	int ret;

	ret = parse_args(argc, argv, &o);
	if (ret > 0)
		return EXIT_OK;
	if (ret < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o.hook_mode) {
		/* libvirt's cwd is not ours to rely on; stdout belongs to libvirt's XML filter */
		if (chdir("/") < 0)
			return EXIT_FAILED;
		log_setup(false, LOG_INFO);
	} else
		log_setup(o.verbose || o.cmd == CMD_RELEASE, o.verbose ? LOG_DEBUG : LOG_INFO);

	/* relative paths of a shell user are resolved before anything else */
	snprintf(o.config_path, sizeof(o.config_path), "%s", o.config ? o.config : CONF_DEFAULT_PATH);
	snprintf(o.hooks_path, sizeof(o.hooks_path), "%s", o.hooks_dir ? o.hooks_dir : HOOKS_DIR);
	if (o.config && o.config[0] != '/' && !realpath(o.config, o.config_path))
		snprintf(o.config_path, sizeof(o.config_path), "%s", o.config);
	if (o.hooks_dir && o.hooks_dir[0] != '/' && !realpath(o.hooks_dir, o.hooks_path))
		snprintf(o.hooks_path, sizeof(o.hooks_path), "%s", o.hooks_dir);
	if (host_init(o.root) < 0) {
		fprintf(stderr, "vfiohook: --root %s: %s\n", o.root, strerror(errno));
		return EXIT_USAGE;
	}

	ret = command ? command->fn(&o) : run_event(&o);
	if (ret != EXIT_OK && log_failure())
		fprintf(stderr, "vfiohook: %s\n", log_failure());
	fflush(stdout);
	return ret;
}
