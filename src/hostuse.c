/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which PCI devices the host itself needs. A device is host-critical when a block device the
 * host uses sits on it: a mounted filesystem (by its device, or for btrfs and other anonymous
 * devices by the mount's source and every member of the btrfs), active swap, or any assembled
 * dm (LUKS, LVM) or md array, following slaves/ down to the disks. So is the device of a
 * console in use, unless it is the GPU being passed (whose console the vtconsole stage
 * unbinds). When the mount table or the block hierarchy cannot be read, nothing is assumed:
 * the caller refuses.
 */
#include <limits.h>
#include <string.h>

#include "hook.h"
#include "host.h"

#define MAX_DEPTH 16

/*
 * Is the block device whose sysfs directory is dir (any form: /sys/dev/block/M:N,
 * /sys/class/block/NAME) on the PCI device (needle "/BDF/"), itself or through its slaves?
 * 1 with the chain of devices in via, 0, or -errno when dir cannot be resolved.
 */
static int block_on(const char *dir, const char *needle, char *via, size_t size, int depth)
{
	char real[PATH_MAX], **slaves = NULL;
	size_t n = 0;
	int r;

	if (depth > MAX_DEPTH)
		return -ELOOP;
	r = host_realpath(real, sizeof(real) - 1, "%s", dir);
	if (r < 0)
		return r;
	strcat(real, "/");
	r = strstr(real, needle) != NULL;
	real[strlen(real) - 1] = '\0';
	if (r > 0)
		goto found;
	/* through dir, not real: a root of tests may itself be behind a link */
	r = host_dir_list(&slaves, &n, "%s/slaves", dir);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		char sub[PATH_MAX];
		if (snprintf(sub, sizeof(sub), "%s/slaves/%s", dir, slaves[i]) >= (int)sizeof(sub)) {
			r = -ENAMETOOLONG;
			break;
		}
		r = block_on(sub, needle, via, size, depth + 1);
	}
	strv_free(slaves, n);
	if (r <= 0)
		return r;
found: {
		/* the chain of devices, from the one on the PCI device up */
		size_t l = strlen(via);
		snprintf(via + l, size - l, "%s%s", l ? ", " : "", strrchr(real, '/') + 1);
		return 1;
	}
}

/* "WHAT)", or "WHAT, through A, B)" when the device is stacked on others */
static void with_via(char *why, size_t size, const char *what, const char *via)
{
	if (strchr(via, ','))
		snprintf(why, size, "%s, through %s)", what, via);
	else
		snprintf(why, size, "%s)", what);
}

/* The sysfs directory of a device node path (/dev/sda2, /dev/mapper/root -> dm-0). */
static int dev_node_dir(const char *node, char *dir, size_t size)
{
	char real[PATH_MAX];
	const char *base;

	if (host_realpath(real, sizeof(real), "%s", node) < 0)
		snprintf(real, sizeof(real), "%s", node);
	base = strrchr(real, '/');
	base = base ? base + 1 : real;
	return snprintf(dir, size, "/sys/class/block/%s", base) >= (int)size ? -ENAMETOOLONG : 0;
}

/* Mounted filesystems, by their device (or for anonymous devices, their source). */
static int check_mounts(const char *needle, char *why, size_t size)
{
	_cleanup_free_ char *mounts = NULL;
	char *save = NULL;
	int r;

	r = host_read_all(&mounts, 4 * 1024 * 1024, "/proc/self/mountinfo");
	if (r < 0)
		return snprintf(why, size, "cannot read /proc/self/mountinfo: %s", strerror(-r)), r;
	for (char *line = strtok_r(mounts, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char majmin[32], mnt[1024], dir[PATH_MAX], via[256] = "", what[1100];
		const char *dash = strstr(line, " - ");
		char fstype[64] = "", source[1024] = "";
		unsigned maj, min;

		if (sscanf(line, "%*s %*s %31s %*s %1023s", majmin, mnt) != 2 ||
		    sscanf(majmin, "%u:%u", &maj, &min) != 2)
			return snprintf(why, size, "cannot parse /proc/self/mountinfo"), -EINVAL;
		if (dash)
			(void)sscanf(dash + 3, "%63s %1023s", fstype, source);
		if (maj != 0)
			snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u", maj, min);
		else if (strncmp(source, "/dev/", 5) == 0 && dev_node_dir(source, dir, sizeof(dir)) == 0)
			; /* btrfs and other anonymous devices: the source names the device */
		else
			continue; /* proc, tmpfs, nfs, ...: on no local device */
		r = block_on(dir, needle, via, sizeof(via), 0);
		if (r < 0)
			return snprintf(why, size, "cannot resolve the block device %s of %s", majmin, mnt), r;
		if (r > 0) {
			snprintf(what, sizeof(what), "the controller of a mounted filesystem (%s", mnt);
			with_via(why, size, what, via);
			return 1;
		}
	}
	return 0;
}

static int check_swaps(const char *needle, char *why, size_t size)
{
	_cleanup_free_ char *swaps = NULL;
	char *save = NULL;
	int r;

	r = host_read_all(&swaps, 1024 * 1024, "/proc/swaps");
	if (r < 0)
		return snprintf(why, size, "cannot read /proc/swaps: %s", strerror(-r)), r;
	for (char *line = strtok_r(swaps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char path[1024], type[32], dir[PATH_MAX], via[256] = "", what[1100];
		if (sscanf(line, "%1023s %31s", path, type) != 2 || !streq(type, "partition"))
			continue; /* the header; a swap file is on a mounted filesystem */
		if (dev_node_dir(path, dir, sizeof(dir)) < 0)
			continue;
		r = block_on(dir, needle, via, sizeof(via), 0);
		if (r < 0)
			return snprintf(why, size, "cannot resolve the swap device %s", path), r;
		if (r > 0) {
			snprintf(what, sizeof(what), "the controller of active swap (%s", path);
			with_via(why, size, what, via);
			return 1;
		}
	}
	return 0;
}

/* Assembled dm and md devices (mounted or not: an open LUKS volume, an LVM VG, an array). */
static int check_stacked(const char *needle, char *why, size_t size)
{
	char **devs = NULL;
	size_t n = 0;
	int r = host_dir_list(&devs, &n, "/sys/class/block");

	if (r < 0) {
		snprintf(why, size, "cannot list /sys/class/block: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; r >= 0 && i < n; i++) {
		char dir[PATH_MAX], via[256] = "";
		if (strncmp(devs[i], "dm-", 3) != 0 && strncmp(devs[i], "md", 2) != 0)
			continue;
		snprintf(dir, sizeof(dir), "/sys/class/block/%s", devs[i]);
		r = block_on(dir, needle, via, sizeof(via), 0);
		if (r < 0)
			snprintf(why, size, "cannot resolve the members of %s", devs[i]);
		else if (r > 0)
			snprintf(why, size, "under the assembled %s %s (%s)",
				 strncmp(devs[i], "md", 2) ? "dm device" : "md array", devs[i], via);
	}
	strv_free(devs, n);
	return r;
}

/* Every member of every mounted btrfs (mountinfo names only one of them). */
static int check_btrfs(const char *needle, char *why, size_t size)
{
	char **fss = NULL;
	size_t n = 0;
	int r = host_dir_list(&fss, &n, "/sys/fs/btrfs");

	for (size_t i = 0; r >= 0 && i < n; i++) {
		char **members = NULL;
		size_t m = 0;
		r = host_dir_list(&members, &m, "/sys/fs/btrfs/%s/devices", fss[i]);
		for (size_t j = 0; r >= 0 && j < m; j++) {
			char dir[PATH_MAX], via[256] = "";
			snprintf(dir, sizeof(dir), "/sys/fs/btrfs/%s/devices/%s", fss[i], members[j]);
			r = block_on(dir, needle, via, sizeof(via), 0);
			if (r > 0)
				snprintf(why, size, "the controller of %s, a member of the mounted btrfs %s", members[j], fss[i]);
			else if (r < 0)
				snprintf(why, size, "cannot resolve the btrfs member %s", members[j]);
		}
		strv_free(members, m);
	}
	strv_free(fss, n);
	return r;
}

/* The devices of the consoles in use: a serial card, or the framebuffer of the VT console. */
static int check_console(const char *bdf, const char *needle, bool passing_gpu, char *why, size_t size)
{
	char active[256], *save = NULL;

	if (host_read(active, sizeof(active), "/sys/class/tty/console/active") < 0)
		return 0; /* no console (a container): nothing to protect */
	for (char *tty = strtok_r(active, " ", &save); tty; tty = strtok_r(NULL, " ", &save)) {
		char dev[PATH_MAX];
		bool vt = strncmp(tty, "tty", 3) == 0 && tty[3] >= '0' && tty[3] <= '9';

		if (vt) {
			char **fbs = NULL;
			size_t n = 0;
			bool on = false;
			if (passing_gpu)
				continue; /* its console is unbound by the vtconsole stage */
			(void)host_dir_list(&fbs, &n, "/sys/class/graphics");
			for (size_t i = 0; !on && i < n; i++)
				on = host_realpath(dev, sizeof(dev) - 1, "/sys/class/graphics/%s/device", fbs[i]) == 0 &&
				     strcat(dev, "/") && strstr(dev, needle);
			strv_free(fbs, n);
			if (on)
				return snprintf(why, size, "the device of the console %s", tty), 1;
		} else if (host_realpath(dev, sizeof(dev) - 1, "/sys/class/tty/%s/device", tty) == 0 && strcat(dev, "/") &&
			   strstr(dev, needle))
			return snprintf(why, size, "the device of the serial console %s", tty), 1;
	}
	return 0;
}

int host_needs_device(const char *bdf, bool passing_gpu, char *why, size_t size)
{
	char needle[PCI_ADDR_STRLEN + 2];
	int r;

	why[0] = '\0';
	snprintf(needle, sizeof(needle), "/%s/", bdf);
	r = check_mounts(needle, why, size);
	if (r == 0)
		r = check_swaps(needle, why, size);
	if (r == 0)
		r = check_stacked(needle, why, size);
	if (r == 0)
		r = check_btrfs(needle, why, size);
	if (r == 0)
		r = check_console(bdf, needle, passing_gpu, why, size);
	return r;
}
