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

static int fb_plan(struct plan *p)
{
	char **devs = NULL;
	size_t n = 0;
	int r;

	if (!p->run->vm->framebuffer)
		return 0;
	r = host_dir_list(&devs, &n, "/sys/bus/platform/devices");
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct record rec = { .kind = REC_FRAMEBUFFER };
		struct action *a;
		struct op *o;

		if (!is_fb_device(devs[i]) || strlen(devs[i]) >= sizeof(rec.framebuffer.device))
			continue;
		view_driver(p, "platform", devs[i], rec.framebuffer.driver, sizeof(rec.framebuffer.driver));
		if (!rec.framebuffer.driver[0])
			continue; /* not bound: nothing holds the memory */
		strcpy(rec.framebuffer.device, devs[i]);
		a = plan_action(p, REC_FRAMEBUFFER, &rec);
		if (!a || !(o = plan_op(p, OP_WRITE, devs[i], "/sys/bus/platform/devices/%s/driver/unbind", devs[i]))) {
			r = -ENOMEM;
			break;
		}
		o->timeout = FB_TIMEOUT;
		snprintf(o->fail, sizeof(o->fail), "cannot unbind %s from %s", devs[i], rec.framebuffer.driver);
		o = plan_op(p, OP_WAIT_LINK, "", "/sys/bus/platform/devices/%s/driver", devs[i]);
		if (!o) {
			r = -ENOMEM;
			break;
		}
		o->timeout = FB_TIMEOUT;
		snprintf(o->fail, sizeof(o->fail), "%s did not let go of %s", rec.framebuffer.driver, devs[i]);
		snprintf(a->done, sizeof(a->done), "%s unbound from %s", devs[i], rec.framebuffer.driver);
	}
	strv_free(devs, n);
	return r;
}

static int fb_plan_undo(struct plan *p, const struct record *rec, size_t index)
{
	const char *dev = rec->framebuffer.device, *drv = rec->framebuffer.driver;
	struct action *a = plan_undo_action(p, REC_FRAMEBUFFER, index);
	char cur[128];
	struct op *o;

	if (!a)
		return -ENOMEM;
	if (!view_exists(p, "/sys/bus/platform/devices/%s", dev)) {
		snprintf(a->done, sizeof(a->done),
			 "%s is gone (a GPU driver took over the display for good); nothing to bind again", dev);
		return 0;
	}
	view_driver(p, "platform", dev, cur, sizeof(cur));
	if (cur[0])
		return 0; /* bound already */
	if (!view_exists(p, "/sys/bus/platform/drivers/%s", drv)) {
		snprintf(a->done, sizeof(a->done), "driver %s of %s is not there any more; leaving it unbound", drv, dev);
		return 0;
	}
	o = plan_op(p, OP_WRITE, dev, "/sys/bus/platform/drivers/%s/bind", drv);
	if (!o)
		return -ENOMEM;
	o->timeout = FB_TIMEOUT;
	snprintf(o->fail, sizeof(o->fail), "cannot bind %s to %s again", dev, drv);
	o = plan_op(p, OP_WAIT_LINK, drv, "/sys/bus/platform/devices/%s/driver", dev);
	if (!o)
		return -ENOMEM;
	o->timeout = FB_TIMEOUT;
	snprintf(o->fail, sizeof(o->fail), "%s did not bind to %s again", dev, drv);
	snprintf(a->done, sizeof(a->done), "%s bound to %s again", dev, drv);
	return 0;
}

const struct stage stage_framebuffer = {
	.kind = REC_FRAMEBUFFER,
	.plan = fb_plan,
	.plan_undo = fb_plan_undo,
};
