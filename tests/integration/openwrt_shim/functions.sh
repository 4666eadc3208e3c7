# SPDX-License-Identifier: ISC
# tests/integration/openwrt_shim/functions.sh - a stand-in for OpenWrt's
# /lib/functions.sh in the busybox root of test_packages.py: the account
# helpers (same files and defaults as OpenWrt's) and default_postinst /
# default_prerm reduced to what they do to a package's init script on a
# live system (enable and (re)start; stop and disable).

user_exists() { grep -qs "^$1:" /etc/passwd; }
group_exists() { grep -qs "^$1:" /etc/group; }

# next_id FILE - the first free id from 65536 (OpenWrt's range) in FILE
next_id() {
	id=65536
	while cut -d: -f3 "$1" | grep -qx "$id"; do id=$((id + 1)); done
	echo "$id"
}

group_add_next() {
	gid=$(next_id /etc/group)
	echo "$1:x:$gid:" >>/etc/group
	echo "$gid"
}

# user_add NAME [UID] [GID] [DESC] [HOME] [SHELL]
user_add() {
	uid=${2:-$(next_id /etc/passwd)}
	echo "$1:x:$uid:${3:-$uid}:$4:${5:-/var}:${6:-/bin/false}" >>/etc/passwd
	echo "$1:*:0:0:99999:7:::" >>/etc/shadow
}

# default_postinst SCRIPT ACTION - OpenWrt's, for a live system: every
# init script of the package is enabled and (re)started
default_postinst() {
	pkg=$(basename "${1%.*}")
	for i in $(grep -s '^/etc/init.d/' "/usr/lib/opkg/info/$pkg.list"); do
		"$i" enable
		"$i" stop
		"$i" start
	done
	return 0
}

default_prerm() {
	pkg=$(basename "${1%.*}")
	for i in $(grep -s '^/etc/init.d/' "/usr/lib/opkg/info/$pkg.list"); do
		"$i" stop
		"$i" disable
	done
	return 0
}
