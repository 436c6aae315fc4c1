/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Firmware framebuffers: the platform device the kernel makes from the boot display
 * (efi-framebuffer.N, simple-framebuffer.N, vesa-framebuffer.N) holds the GPU's memory while
 * a driver (efifb, simpledrm, vesafb, efidrm, ...) is bound to it. Unbind through the device's
 * own driver link, whatever the driver is called, and record the driver. A native GPU driver
 * removes the device for good when it loads (aperture hand-over), so on release the device may
 * be gone: that is a warning, not a failure.
 */
#include <string.h>

#include "hook.h"
#include "host.h"
#include "log.h"

#define STAGE "framebuffer"
#define FB_TIMEOUT 2.0

static bool is_fb_device(const char *name)
{
	static const char *const prefixes[] = { "efi-framebuffer.", "simple-framebuffer.",
						"vesa-framebuffer." };

	for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static int fb_prepare(struct run *run)
{
	DIR *d = host_opendir("/sys/bus/platform/devices");
	char names[16][64];
	size_t n = 0;
	struct dirent *de;

	if (!run->vm->framebuffer) {
		if (d)
			closedir(d);
		return 0;
	}
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < ELEMENTSOF(names))
		if (is_fb_device(de->d_name) && strlen(de->d_name) < sizeof(names[0]))
			memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
	closedir(d);

	for (size_t i = 0; i < n; i++) {
		char drv[128];
		int r;

		if (host_link_name(drv, sizeof(drv), "/sys/bus/platform/devices/%s/driver", names[i]) < 0)
			continue; /* not bound: nothing holds the memory */
		r = state_add(run->state, STAGE, names[i], drv, NULL);
		if (r < 0)
			return log_fail(STAGE, r, "cannot record state");
		r = host_write_str(names[i], FB_TIMEOUT, "/sys/bus/platform/devices/%s/driver/unbind", names[i]);
		if (r >= 0)
			r = host_wait_link(NULL, FB_TIMEOUT, "/sys/bus/platform/devices/%s/driver", names[i]);
		if (r < 0)
			return log_fail(STAGE, r, "cannot unbind %s from %s", names[i], drv);
		log_info(STAGE, "%s unbound from %s", names[i], drv);
	}
	return 0;
}

/* Record: framebuffer DEVICE DRIVER */
static int fb_undo(struct run *run, const struct record *rec)
{
	const char *dev, *drv;
	char cur[128];
	int r;

	if (rec->n_fields != 3)
		return log_error(STAGE, EINVAL, "malformed state record");
	dev = rec->fields[1];
	drv = rec->fields[2];
	if (!host_exists("/sys/bus/platform/devices/%s", dev)) {
		log_warning(STAGE, 0, "%s is gone (a GPU driver took over the display for good); "
				      "nothing to bind again", dev);
		return 0;
	}
	if (host_link_name(cur, sizeof(cur), "/sys/bus/platform/devices/%s/driver", dev) == 0)
		return 0; /* bound already */
	if (!host_is_dry_run() && !host_exists("/sys/bus/platform/drivers/%s", drv)) {
		log_warning(STAGE, 0, "driver %s of %s is not there any more; leaving it unbound", drv, dev);
		return 0;
	}
	r = host_write_str(dev, FB_TIMEOUT, "/sys/bus/platform/drivers/%s/bind", drv);
	if (r >= 0)
		r = host_wait_link(drv, FB_TIMEOUT, "/sys/bus/platform/devices/%s/driver", dev);
	if (r < 0)
		return log_error(STAGE, r, "cannot bind %s to %s again", dev, drv);
	log_info(STAGE, "%s bound to %s again", dev, drv);
	return 0;
}

const struct stage stage_framebuffer = {
	.name = STAGE,
	.prepare = fb_prepare,
	.undo = fb_undo,
};
