/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>

#include "check.h"
#include "dlib.h"
#include "hook.h"
#include "host.h"
#include "log.h"

#ifndef VERSION
#define VERSION "0"
#endif
#define HOOKS_DIR "/etc/libvirt/hooks/qemu.d"

struct options {
	const char *config;
	const char *root;
	const char *hooks_dir;
	bool dry_run;
	bool verbose;
	bool hook_mode;
	bool check;
	char **args;
	int n_args;
};

static void usage(FILE *f)
{
	fputs("Usage: vfiohook [OPTIONS] VM OP SUBOP [EXTRA]\n"
	      "       vfiohook check [--config FILE]\n"
	      "       (installed as /etc/libvirt/hooks/qemu, libvirt runs it as: qemu VM OP SUBOP EXTRA)\n"
	      "\n"
	      "Gives a libvirt VM its passthrough GPU on 'prepare begin' and gives it back to the\n"
	      "host on 'release end', with rollback; runs qemu.d/VM/OP/SUBOP/ drop-in scripts.\n"
	      "\n"
	      "  -c, --config FILE     configuration (default " CONF_DEFAULT_PATH ")\n"
	      "  -n, --dry-run         print what would be done, change nothing\n"
	      "  -v, --verbose         log to stderr as well as to the journal\n"
	      "      --root DIR        act on DIR/sys, DIR/proc, DIR/dev, DIR/run (tests, demos)\n"
	      "      --hooks-dir DIR   drop-in scripts (default " HOOKS_DIR ")\n"
	      "  -h, --help            this help\n"
	      "      --version         version\n"
	      "\n"
	      "Exit status: 0 done or nothing to do, 1 failed (host left as it was),\n"
	      "2 usage or configuration error, 3 failed and not everything could be undone.\n",
	      f);
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },      { "root", required_argument, NULL, 'R' },
		{ "hooks-dir", required_argument, NULL, 'H' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },      { NULL, 0, NULL, 0 },
	};
	const char *base = strrchr(argv[0], '/');
	int c;

	base = base ? base + 1 : argv[0];
	/* libvirt: any name but ours, exactly four arguments, no options */
	if (!streq(base, "vfiohook") && argc == 5) {
		o->hook_mode = true;
		o->args = argv + 1;
		o->n_args = 4;
		return 0;
	}
	while ((c = getopt_long(argc, argv, "+c:nvh", longopts, NULL)) >= 0) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'n': o->dry_run = true; break;
		case 'v': o->verbose = true; break;
		case 'R': o->root = optarg; break;
		case 'H': o->hooks_dir = optarg; break;
		case 'h': usage(stdout); exit(EXIT_OK);
		case 'V': printf("vfiohook %s\n", VERSION); exit(EXIT_OK);
		default: return -EINVAL;
		}
	}
	o->args = argv + optind;
	o->n_args = argc - optind;
	if (o->n_args >= 1 && streq(o->args[0], "check")) {
		o->check = true;
		/* options may also follow the command: vfiohook check --config FILE */
		optind++;
		while ((c = getopt_long(argc, argv, "+c:nvh", longopts, NULL)) >= 0) {
			if (c == 'c')
				o->config = optarg;
			else if (c == 'R')
				o->root = optarg;
			else if (c == 'v')
				o->verbose = true;
			else
				return -EINVAL;
		}
		return optind == argc ? 0 : -EINVAL;
	}
	if (o->n_args < 3 || o->n_args > 4)
		return -EINVAL;
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

static void quiet_virt_error(void *data, virErrorPtr err)
{
}

/* Shell use only (never from the hook: libvirt is waiting for us): the live XML of a domain. */
static char *fetch_domain_xml(const char *name)
{
	virConnectPtr conn;
	virDomainPtr dom;
	char *xml = NULL;

	if (dlopen_libvirt() < 0)
		return NULL;
	sym_virSetErrorFunc(NULL, quiet_virt_error);
	conn = sym_virConnectOpenReadOnly("qemu:///system");
	if (!conn)
		return NULL;
	dom = sym_virDomainLookupByName(conn, name);
	if (dom) {
		xml = sym_virDomainGetXMLDesc(dom, 0);
		sym_virDomainFree(dom);
	}
	sym_virConnectClose(conn);
	return xml;
}

static int cmd_check(const struct options *o, const char *config)
{
	struct conf c;
	int r = conf_load(config, o->root != NULL, &c);

	if (r == -ENOENT) {
		fprintf(stderr, "vfiohook: %s: does not exist (no VM is configured)\n", config);
		conf_done(&c);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < c.n_errors; i++)
		fprintf(stderr, "%s\n", c.errors[i]);
	if (r < 0) {
		if (c.n_errors == 0)
			fprintf(stderr, "vfiohook: %s: %s\n", config, strerror(-r));
		conf_done(&c);
		return EXIT_USAGE;
	}
	printf("%s: OK, %zu VM%s\n", config, c.n_vms, c.n_vms == 1 ? "" : "s");
	for (size_t i = 0; i < c.n_vms; i++) {
		const struct vm_conf *vm = &c.vms[i];
		printf("  %s:", vm->name);
		if (vm->pci_from_hostdev)
			printf(" PCI devices from the domain's <hostdev> elements");
		else if (vm->n_pci == 0)
			printf(" no PCI devices");
		for (size_t j = 0; j < vm->n_pci; j++) {
			char b[PCI_ADDR_STRLEN];
			pci_addr_format(&vm->pci[j], b);
			printf(" %s", b);
		}
		printf("\n");
	}
	r = check_host(&c) > 0 ? EXIT_FAILED : EXIT_OK;
	conf_done(&c);
	return r;
}

static int run_event(const struct options *o, const char *config, const char *hooks_dir)
{
	struct run run = { 0 };
	struct conf conf;
	struct domain dom;
	_cleanup_free_ char *xml = NULL;
	char *fetched = NULL;
	char err[512];
	size_t xml_len = 0;
	bool is_prepare, is_release;
	int r, ret;

	run.vm_name = o->args[0];
	run.op = o->args[1];
	run.subop = o->args[2];
	run.extra = o->n_args > 3 ? o->args[3] : "-";
	run.hooks_dir = hooks_dir;
	run.relax_owner = o->root != NULL;
	is_prepare = streq(run.op, "prepare") && streq(run.subop, "begin");
	is_release = streq(run.op, "release") && streq(run.subop, "end");
	log_set_context(run.vm_name, run.op);

	if (o->hook_mode || !isatty(STDIN_FILENO)) {
		r = read_stdin(&xml, &xml_len);
		if (r < 0)
			return log_fail(NULL, r, "cannot read the domain XML"), EXIT_FAILED;
	}
	run.xml = xml;
	run.xml_len = xml_len;

	if (!vm_name_is_safe(run.vm_name)) {
		if (!is_prepare)
			return EXIT_OK;
		log_fail(NULL, 0, "refusing VM name \"%s\": not a libvirt domain name", run.vm_name);
		return EXIT_USAGE;
	}

	/* prepare always reads all of kvm.conf: a broken one must not let any VM start unnoticed */
	r = conf_load_for(config, o->root != NULL, is_prepare ? NULL : run.vm_name, &conf);
	if (r < 0 && r != -ENOENT) {
		for (size_t i = 0; i < conf.n_errors; i++)
			log_error("config", 0, "%s", conf.errors[i]);
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

	if (run.vm && (is_prepare || is_release)) {
		if (xml_len == 0 && !o->hook_mode) {
			fetched = fetch_domain_xml(run.vm_name);
			if (fetched) {
				run.xml = fetched;
				run.xml_len = strlen(fetched);
			}
		}
		r = run.xml_len ? domain_parse(run.xml, run.xml_len, &dom, err, sizeof(err)) : -ENODATA;
		if (r >= 0 && !streq(dom.name, run.vm_name)) {
			snprintf(err, sizeof(err), "the domain XML describes \"%s\", not \"%s\"", dom.name,
				 run.vm_name);
			r = -EINVAL;
		}
		if (r >= 0)
			run.dom = &dom;
		else if (is_prepare && (o->hook_mode || r != -ENODATA)) {
			log_fail("domain", 0, "%s", r == -ENODATA ? "no domain XML on standard input" : err);
			ret = EXIT_FAILED;
			goto out;
		} else
			log_warning("domain", 0, "no usable domain XML (%s); going by kvm.conf alone",
				    r == -ENODATA ? "none given" : err);
		if (run.dom && run.vm->uuid[0] && !streq(run.vm->uuid, run.dom->uuid)) {
			log_warning("config", 0, "UUID %s of %s does not match kvm.conf (%s); not managing it",
				    run.dom->uuid, run.vm_name, run.vm->uuid);
			run.vm = NULL;
		}
	}
	ret = hook_dispatch(&run);
out:
	free(fetched);
	conf_done(&conf);
	return ret;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	char config[PATH_MAX], hooks_dir[PATH_MAX];
	int ret;

	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o.hook_mode) {
		/* libvirt's cwd is not ours to rely on; stdout belongs to libvirt's XML filter */
		if (chdir("/") < 0)
			return EXIT_FAILED;
		log_setup(false, LOG_INFO);
	} else
		log_setup(o.verbose || o.check, o.verbose ? LOG_DEBUG : LOG_INFO);

	/* relative paths of a shell user are resolved before anything else */
	snprintf(config, sizeof(config), "%s", o.config ? o.config : CONF_DEFAULT_PATH);
	snprintf(hooks_dir, sizeof(hooks_dir), "%s", o.hooks_dir ? o.hooks_dir : HOOKS_DIR);
	if (o.config && o.config[0] != '/' && !realpath(o.config, config))
		snprintf(config, sizeof(config), "%s", o.config);
	if (o.hooks_dir && o.hooks_dir[0] != '/' && !realpath(o.hooks_dir, hooks_dir))
		snprintf(hooks_dir, sizeof(hooks_dir), "%s", o.hooks_dir);
	if (host_init(o.root, o.dry_run) < 0) {
		fprintf(stderr, "vfiohook: --root %s: %s\n", o.root, strerror(errno));
		return EXIT_USAGE;
	}

	if (o.check)
		return cmd_check(&o, config);
	ret = run_event(&o, config, hooks_dir);
	if (ret != EXIT_OK && log_failure())
		fprintf(stderr, "vfiohook: %s\n", log_failure());
	fflush(stdout);
	return ret;
}
