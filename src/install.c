/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `vfiohook install`: makes this binary libvirt's QEMU hook on a host. The hook is a link,
 * /etc/libvirt/hooks/qemu -> the binary; a foreign hook found there is moved to a backup
 * first, never overwritten (and when it is the tutorials' dispatcher, `vfiohook import` is
 * offered). kvm.conf is never touched. libvirt reads its hooks when its daemon starts or
 * reloads: the daemon that runs (virtqemud for the modular daemons, libvirtd otherwise) is
 * reloaded over systemd's D-Bus API. With --root, for a tree that is not this host's running
 * system, nothing is reloaded: it says what it would do.
 */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bus.h"
#include "cli.h"
#include "hook.h"
#include "host.h"
#include "import.h"
#include "install.h"
#include "log.h"

#define HOOKS "/etc/libvirt/hooks"

static int reload_libvirt(const struct options *o)
{
	static const char *const daemons[] = { "virtqemud.service", "libvirtd.service" };
	struct sd_bus *bus = NULL;
	char state[32], result[32];
	int r = 0;

	if (!host_is_real()) {
		printf("would reload virtqemud.service or libvirtd.service, whichever runs (not under --root)\n");
		return 0;
	}
	if (bus_connect(&bus) < 0) {
		printf("cannot reach systemd (%s): reload the libvirt daemon yourself "
		       "(systemctl reload virtqemud or libvirtd)\n", bus_last_error());
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(daemons); i++) {
		if (bus_unit_state(bus, daemons[i], state, sizeof(state), NULL, 0) < 0 || !streq(state, "active"))
			continue;
		if (o->dry_run) {
			printf("reload unit %s\n", daemons[i]);
			break;
		}
		r = bus_unit_job(bus, "ReloadUnit", daemons[i], 30, result, sizeof(result));
		if (r < 0)
			printf("could not reload %s (%s): run systemctl reload %s\n", daemons[i], bus_last_error(),
			       daemons[i]);
		else
			printf("reloaded %s: libvirt runs the hook from now on\n", daemons[i]);
		break;
	}
	bus_close(bus);
	return 0;
}

int cmd_install(const struct options *o)
{
	/* static: one call per process, and PATH_MAX buffers do not belong on the stack */
	static char self[PATH_MAX], hook[PATH_MAX], target[PATH_MAX], hooks[PATH_MAX], conf[PATH_MAX];
	static char real_target[PATH_MAX], real_self[PATH_MAX], backup[PATH_MAX];
	struct stat st;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		fprintf(stderr, "vfiohook: cannot tell where this binary is: %s\n", strerror(errno));
		return EXIT_FAILED;
	}
	self[n] = '\0';
	if (host_path(hooks, sizeof(hooks), HOOKS) < 0 || host_path(hook, sizeof(hook), HOOKS "/qemu") < 0 ||
	    host_path(conf, sizeof(conf), HOOKS "/kvm.conf") < 0)
		return EXIT_USAGE;

	if (lstat(hook, &st) == 0) {
		n = S_ISLNK(st.st_mode) ? readlink(hook, target, sizeof(target) - 1) : -1;
		if (n >= 0) {
			target[n] = '\0';
			if (streq(target, self) || (realpath(hook, real_target) && realpath(self, real_self) &&
						    streq(real_target, real_self))) {
				printf("%s already runs vfiohook (%s)\n", HOOKS "/qemu", target);
				return reload_libvirt(o) < 0 ? EXIT_FAILED : EXIT_OK;
			}
		}
		/* foreign: moved aside, never overwritten */
		{
			char stamp[32];
			time_t now = time(NULL);
			_cleanup_free_ char *text = NULL;
			bool tutorial = host_read_file(hook, 1024 * 1024, &text) >= 0 &&
					import_is_tutorial_dispatcher(text);

			strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime(&now));
			if (snprintf(backup, sizeof(backup), "%s/qemu.before-vfiohook-%s", hooks, stamp) >=
			    (int)sizeof(backup))
				return EXIT_USAGE;
			printf("%s is another hook%s: moving it to %s\n", HOOKS "/qemu",
			       tutorial ? " (a passthrough tutorial's dispatcher)" : "", backup + strlen(host_root()));
			if (!o->dry_run && rename(hook, backup) < 0) {
				fprintf(stderr, "vfiohook: cannot move %s aside: %s\n", hook, strerror(errno));
				return EXIT_FAILED;
			}
			if (tutorial)
				printf("its scripts in qemu.d keep running under vfiohook; 'vfiohook import' turns them "
				       "and the tutorial's kvm.conf into vfiohook settings (reversibly)\n");
		}
	} else if (errno != ENOENT) {
		fprintf(stderr, "vfiohook: %s: %s\n", hook, strerror(errno));
		return EXIT_FAILED;
	}
	printf("link %s -> %s\n", HOOKS "/qemu", self);
	if (!o->dry_run) {
		if (mkdir(hooks, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "vfiohook: cannot create %s: %s\n", hooks, strerror(errno));
			return EXIT_FAILED;
		}
		if (symlink(self, hook) < 0) {
			fprintf(stderr, "vfiohook: cannot link %s: %s\n", hook, strerror(errno));
			return EXIT_FAILED;
		}
	}
	if (access(conf, F_OK) == 0)
		printf("%s kept as it is ('vfiohook check' validates it)\n", HOOKS "/kvm.conf");
	else
		printf("no %s yet: no VM is managed until you write one (see kvm.conf(5) and the example in "
		       "/usr/share/doc/vfiohook)\n", HOOKS "/kvm.conf");
	return reload_libvirt(o) < 0 ? EXIT_FAILED : EXIT_OK;
}
