# SPDX-License-Identifier: GPL-2.0-or-later
# `vfiohook vbios check|fix|dump`, black box, on files: QEMU's own option ROMs (seabios'
# vgabios-bochs-display.bin, a legacy image of 1234:1111; ipxe's efi-e1000e.rom, a legacy +
# EFI chain), the same behind an nvflash-style header, with a bad checksum, cut short; and
# dump under --root, a plain directory whose rom attribute is a FIFO served as the kernel
# serves it ("1", the ROM, "0"). Needs no simulated host. Sourced by run.sh (bash), after
# lib.sh.

VB_BOCHS=${VB_BOCHS:-/usr/share/seabios/vgabios-bochs-display.bin}
VB_ATI=${VB_ATI:-/usr/share/seabios/vgabios-ati.bin}
VB_EFI=${VB_EFI:-/usr/lib/ipxe/qemu/efi-e1000e.rom}

# vb [vfiohook args...]: sets RC, OUT, ERR
vb() {
	timeout -k 1 20 "$VFIOHOOK" "$@" > "$VT/out" 2> "$VT/err"
	RC=$?
	OUT=$(cat "$VT/out")
	ERR=$(cat "$VT/err")
}
# one line on stderr, "vfiohook: ..."
vb_one_line() { [ "$(printf '%s\n' "$ERR" | wc -l)" = 1 ] && [ "${ERR#vfiohook: }" != "$ERR" ]; }
# poke FILE OFFSET: change the byte at OFFSET (to one it was not)
vb_poke() {
	local b
	b=$(od -An -tx1 -j "$2" -N1 "$1" | tr -d ' ')
	if [ "$b" = 01 ]; then printf '\002'; else printf '\001'; fi |
		dd of="$1" bs=1 seek="$2" conv=notrunc 2> /dev/null
}
# nvflash-style header, 680 bytes: a signature, text, a stray 55 AA that starts no image
vb_header() {
	printf 'NVGI\000\001\125\252'
	printf 'NVIDIA Firmware Update Header'
	head -c 643 /dev/zero | tr '\0' '\377'
}
# none of the temporary files of a write left in DIR
vb_no_temp() { [ -z "$(find "$1" -maxdepth 1 -name '.*.??????' 2> /dev/null)" ]; }

t_vbios() {
	local d bdf=0000:01:00.0 dev kpid
	if [ ! -r "$VB_BOCHS" ]; then
		echo "skip: vbios: $VB_BOCHS (seabios) is not installed"
		return 0
	fi
	VT=$(mktemp -d /tmp/vfiohook-vbios.XXXXXX)
	d=$VT/files
	mkdir -p "$d"
	cp "$VB_BOCHS" "$d/bochs.rom"

	# --- check
	vb vbios check "$d/bochs.rom"
	check "vbios check: QEMU's bochs-display ROM is valid, one legacy image of 1234:1111, checksum ok, last" \
		'[ $RC = 0 ] && contains "$OUT" "image 0 at 0x0: 1234:1111, x86 BIOS" && contains "$OUT" "checksum ok, last image" && contains "$OUT" "valid ROM: 1 image, "'
	if [ -r "$VB_EFI" ]; then
		cp "$VB_EFI" "$d/efi.rom"
		vb vbios check "$d/efi.rom"
		check "vbios check: ipxe's legacy + EFI chain lists both images, the EFI one last" \
			'[ $RC = 0 ] && contains "$OUT" "image 0 at 0x0: 8086:10d3, x86 BIOS" && contains "$OUT" ", EFI x64, " && [ "$(grep -c "last image" "$VT/out")" = 1 ] && contains "$OUT" "valid ROM: 2 images"'
	else
		echo "skip: vbios: $VB_EFI (ipxe-qemu) is not installed: no legacy + EFI chain case"
	fi
	{ vb_header; cat "$d/bochs.rom"; } > "$d/nvflash.rom"
	vb vbios check "$d/nvflash.rom"
	check "vbios check: a dump with a header is refused in one line that says where the ROM starts and what removes the header" \
		'[ $RC = 1 ] && vb_one_line && contains "$ERR" "no 55AA signature at offset 0 (it starts with 4E 56)" && contains "$ERR" "an image starts at 0x2a8" && contains "$ERR" "vbios fix"'
	cp "$d/bochs.rom" "$d/badsum.rom"
	vb_poke "$d/badsum.rom" 4096
	vb vbios check "$d/badsum.rom"
	check "vbios check: a bad checksum is refused in one line, the image listed with it" \
		'[ $RC = 1 ] && vb_one_line && contains "$ERR" "image 0 (x86 BIOS) at 0x0: bad checksum" && contains "$OUT" "checksum BAD"'
	head -c 20000 "$d/bochs.rom" > "$d/short.rom"
	vb vbios check "$d/short.rom"
	check "vbios check: a ROM cut short is refused: its length goes past the end" \
		'[ $RC = 1 ] && vb_one_line && contains "$ERR" "past the end of the data"'
	{ cat "$d/bochs.rom"; head -c 4096 /dev/zero | tr '\0' '\377'; } > "$d/padded.rom"
	vb vbios check "$d/padded.rom"
	check "vbios check: bytes after the last image are named, and the ROM is valid" \
		'[ $RC = 0 ] && contains "$OUT" "then 4096 byte(s) after the last image"'
	vb vbios check /dev/null
	check "vbios check: not a regular file: exit 1" '[ $RC = 1 ] && vb_one_line && contains "$ERR" "not a regular file"'

	# --- fix
	vb vbios fix "$d/nvflash.rom" "$d/fixed.rom"
	check "vbios fix: the header is removed, the result byte for byte QEMU's ROM, mode 0644" \
		'[ $RC = 0 ] && cmp -s "$d/fixed.rom" "$d/bochs.rom" && [ "$(stat -c %a "$d/fixed.rom")" = 644 ] && contains "$OUT" "680-byte header" && contains "$OUT" "wrote $d/fixed.rom" && vb_no_temp "$d"'
	vb vbios check "$d/fixed.rom"
	check "vbios fix: what it wrote passes check" '[ $RC = 0 ]'
	if [ -r "$VB_EFI" ]; then
		{ vb_header; cat "$d/efi.rom"; } > "$d/nvflash-efi.rom"
		vb vbios fix "$d/nvflash-efi.rom" "$d/fixed-efi.rom"
		check "vbios fix: a legacy + EFI chain behind a header keeps both images" \
			'[ $RC = 0 ] && cmp -s "$d/fixed-efi.rom" "$d/efi.rom" && [ "$(grep -c "^  image" "$VT/out")" = 2 ]'
	fi
	{ vb_header; cat "$d/badsum.rom"; } > "$d/nvflash-bad.rom"
	echo old > "$d/existing.rom"
	vb vbios fix "$d/nvflash-bad.rom" "$d/existing.rom"
	check "vbios fix: a ROM with a bad checksum is not written; the OUT there stays as it was" \
		'[ $RC = 1 ] && vb_one_line && contains "$ERR" "bad checksum" && contains "$ERR" "not written" && [ "$(cat "$d/existing.rom")" = old ] && vb_no_temp "$d"'
	vb vbios fix "$d/nvflash-bad.rom" "$d/new.rom"
	check "vbios fix: refused, no OUT created" '[ $RC = 1 ] && [ ! -e "$d/new.rom" ]'
	cp "$d/nvflash.rom" "$d/keep.rom"
	vb vbios fix "$d/nvflash.rom" "$d/nvflash.rom"
	check "vbios fix: never over its input" \
		'[ $RC = 1 ] && vb_one_line && contains "$ERR" "is the input" && cmp -s "$d/keep.rom" "$d/nvflash.rom"'
	head -c 680 "$d/nvflash.rom" > "$d/header-only.rom"
	vb vbios fix "$d/header-only.rom" "$d/new.rom"
	check "vbios fix: a file with no image in it: refused" \
		'[ $RC = 1 ] && contains "$ERR" "no option ROM image" && [ ! -e "$d/new.rom" ]'
	vb --dry-run vbios fix "$d/nvflash.rom" "$d/new.rom"
	check "vbios fix --dry-run: verified, nothing written" \
		'[ $RC = 0 ] && contains "$OUT" "would write" && [ ! -e "$d/new.rom" ]'

	# --- usage
	local bad=0 args
	for args in "vbios" "vbios check" "vbios frob a" "vbios check a b" "vbios fix a" "vbios fix a b c" \
		"vbios dump $bdf" "vbios dump nope out" "vbios dump a b c"; do
		# shellcheck disable=SC2086 # words on purpose
		vb $args
		[ "$RC" = 2 ] || { echo "    '$args': exit $RC"; bad=1; }
	done
	check "vbios: a wrong verb or number of words is a usage error (exit 2)" '[ $bad = 0 ]'

	# --- dump, under --root: a plain directory
	dev=$VT/root/sys/bus/pci/devices/$bdf
	mkdir -p "$dev" "$VT/root/proc"
	echo 0x1234 > "$dev/vendor"
	echo 0x1111 > "$dev/device"
	vb --root "$VT/root" vbios dump "$bdf" "$d/dump.rom"
	check "vbios dump: a device without a ROM BAR: refused" \
		'[ $RC = 1 ] && vb_one_line && contains "$ERR" "has no ROM BAR" && [ ! -e "$d/dump.rom" ]'
	vb --root "$VT/root" vbios dump 0000:02:00.0 "$d/dump.rom"
	check "vbios dump: no such device: refused" '[ $RC = 1 ] && contains "$ERR" "no PCI device 0000:02:00.0"'
	cp "$d/bochs.rom" "$dev/rom"
	ln -s ../../../../bus/pci/drivers/bochs-drm "$dev/driver"
	vb --root "$VT/root" vbios dump "$bdf" "$d/dump.rom"
	check "vbios dump: a GPU its driver holds is refused, saying how to free it; its rom attribute untouched" \
		'[ $RC = 1 ] && vb_one_line && contains "$ERR" "in use by its driver bochs-drm" && contains "$ERR" "vfio-pci" && contains "$ERR" "prepare begin" && cmp -s "$dev/rom" "$d/bochs.rom" && [ ! -e "$d/dump.rom" ]'
	rm "$dev/driver"
	vb --root "$VT/root" --dry-run vbios dump "$bdf" "$d/dump.rom"
	check "vbios dump --dry-run: checks the device, touches nothing" \
		'[ $RC = 0 ] && contains "$OUT" "would read the ROM of $bdf (1234:1111)" && cmp -s "$dev/rom" "$d/bochs.rom" && [ ! -e "$d/dump.rom" ]'

	# the kernel's rom attribute: "1" enables it, a read gives the ROM, "0" disables it
	rm "$dev/rom"
	mkfifo "$dev/rom"
	rm -f "$VT/w1" "$VT/w2"
	timeout 25 sh -c 'head -c1 < "$1" > "$2"; cat "$3" > "$1"; head -c1 < "$1" > "$4"' \
		sh "$dev/rom" "$VT/w1" "$d/bochs.rom" "$VT/w2" &
	kpid=$!
	vb --root "$VT/root" vbios dump "$bdf" "$d/dump.rom"
	wait "$kpid"
	check "vbios dump: an unbound device: 1 written, the ROM read, 0 written; verified and written, byte for byte" \
		'[ $RC = 0 ] && [ "$(cat "$VT/w1")" = 1 ] && [ "$(cat "$VT/w2")" = 0 ] && cmp -s "$d/dump.rom" "$d/bochs.rom" && [ "$(stat -c %a "$d/dump.rom")" = 644 ] && contains "$OUT" "wrote $d/dump.rom"'
	rm -f "$VT/w1" "$VT/w2" "$d/dump.rom"
	[ -r "$VB_ATI" ] || { echo "skip: vbios: $VB_ATI is not installed: no wrong-ROM dump case"; rm -rf "$VT"; VT=""; return 0; }
	timeout 25 sh -c 'head -c1 < "$1" > "$2"; cat "$3" > "$1"; head -c1 < "$1" > "$4"' \
		sh "$dev/rom" "$VT/w1" "$VB_ATI" "$VT/w2" &
	kpid=$!
	vb --root "$VT/root" vbios dump "$bdf" "$d/dump.rom"
	wait "$kpid"
	check "vbios dump: a ROM for another device (1002:5159) is refused, the ROM disabled again, nothing written" \
		'[ $RC = 1 ] && vb_one_line && contains "$ERR" "not its own" && contains "$ERR" "1002:5159, not 1234:1111" && [ "$(cat "$VT/w2")" = 0 ] && [ ! -e "$d/dump.rom" ]'
	rm -rf "$VT"
	VT=""
}
