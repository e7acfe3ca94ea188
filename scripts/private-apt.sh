# SPDX-License-Identifier: GPL-2.0
#
# Sourced by scripts/fetch-kernel.sh, fetch-qemu.sh and fetch-meson.sh: a
# private apt configuration, so that nothing of the system's sources, lists
# or cache is read or changed (the system's apt.conf.d still applies, for
# proxies and the like).  The caller defines die().

# private_apt_init DIR: make DIR (inside the caller's temporary directory)
# an apt state, cache and configuration of its own, with DIR/apt.conf for
# `apt-get -c` and DIR/dl, writable by apt's download user, for downloads.
# DIR/sources.list is the caller's to write.
private_apt_init() {
	local aptdir=$1
	mkdir -p "$aptdir/sources.list.d" "$aptdir/preferences.d" "$aptdir/state/lists/partial" \
		 "$aptdir/cache/archives/partial" "$aptdir/dl" || die "cannot create $aptdir"
	# Run as root, apt downloads as user _apt: let it reach and write its dirs.
	chmod 755 "$(dirname "$aptdir")" "$aptdir" || die "cannot chmod $aptdir"
	if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
		chown _apt "$aptdir/dl" || die "cannot give $aptdir/dl to user _apt"
	fi
	cat > "$aptdir/apt.conf" <<-EOC || die "cannot write $aptdir/apt.conf"
	Dir::Etc::SourceList "$aptdir/sources.list";
	Dir::Etc::SourceParts "$aptdir/sources.list.d";
	Dir::Etc::Preferences "$aptdir/preferences";
	Dir::Etc::PreferencesParts "$aptdir/preferences.d";
	Dir::State "$aptdir/state";
	Dir::Cache "$aptdir/cache";
	APT::Get::List-Cleanup "false";
	Acquire::Languages "none";
	#clear APT::Update::Pre-Invoke;
	#clear APT::Update::Post-Invoke;
	#clear APT::Update::Post-Invoke-Success;
	EOC
}
