#!/bin/sh
# sweep-profile-locks.sh: remove stale Chromium profile locks before WPPConnect Server starts.
#
# Usage: sweep-profile-locks.sh <userDataDir> [--dry-run]
#
# Chromium keeps three symlinks in each profile root: SingletonLock -> "<hostname>-<pid>", SingletonCookie and
# SingletonSocket. They are left behind whenever the browser is killed, and a SingletonLock that names another
# hostname (a container recreated with a new hostname, the userDataDir volume kept) makes every later launch of that
# profile fail with Chrome exit "Code: 21" ("The profile appears to be in use by another Chromium process (<pid>) on
# another computer (<host>)"). Chromium never clears such a lock itself. See patches/profile-lock-sweeper/README.md.
#
# For <userDataDir> itself and every directory directly under it (one Chromium profile per WPPConnect session):
#   - SingletonLock is a symlink "<host>-<pid>" and host != this host, or the pid is not alive here
#     (kill -0 fails and /proc/<pid> is absent, or /proc/<pid> is a zombie)
#       -> remove SingletonLock, SingletonCookie and SingletonSocket of that profile (the links, never their targets);
#   - the lock names this host and a live pid                      -> leave everything, report it as held;
#   - a process on this machine runs with --user-data-dir=<profile> -> leave everything, report it as held
#     (whatever the lock says: removing a live lock lets two browsers share one profile);
#   - SingletonLock is anything else (not a "<host>-<pid>" symlink) -> leave it, report it (Chromium deals with it).
# Nothing else is ever removed. Directory entries that are symlinks are skipped (never followed out of the tree).
#
# Options and environment:
#   --dry-run       report what would be removed, remove nothing
#   SWEEP_HOSTNAME  the host name Chromium writes into SingletonLock on this machine (default: `hostname`);
#                   tests set it, and so must an operator who runs the sweep from a machine or container whose
#                   hostname differs from the engine's
#   SWEEP_PROC      where the process table is mounted (default: /proc)
#
# Output: one line per action or finding on stdout ("sweep-profile-locks: ..."), then a summary line.
# Exit status: 0 normally (also when nothing was found); 1 when a stale file could not be removed;
#              2 on bad usage or when <userDataDir> is not a directory.
#
# Made for a pre-start step (pm2 wrapper, systemd ExecStartPre=-, docker entrypoint). Run by hand while the engine
# runs, it is still safe on the engine's own host or in its container, since profiles in use are left alone; it
# cannot see browsers on other machines, so never share one userDataDir between two running engines.

set -u

me=sweep-profile-locks

usage() {
	echo "usage: $0 <userDataDir> [--dry-run]" >&2
	exit 2
}

say() {
	printf '%s: %s\n' "$me" "$*"
}

root=''
have_root=0
dry_run=0
only_args=0
for arg in "$@"; do
	if [ "$only_args" -eq 0 ]; then
		case $arg in
		--dry-run)
			dry_run=1
			continue
			;;
		--)
			only_args=1
			continue
			;;
		-h | --help)
			echo "usage: $0 <userDataDir> [--dry-run]"
			exit 0
			;;
		-*)
			echo "$me: unknown option: $arg" >&2
			usage
			;;
		esac
	fi
	[ "$have_root" -eq 0 ] || usage
	root=$arg
	have_root=1
done
if [ "$have_root" -eq 0 ] || [ -z "$root" ]; then
	usage
fi
if [ ! -d "$root" ]; then
	echo "$me: not a directory: $root" >&2
	exit 2
fi
# Drop trailing slashes so reported paths read userDataDir/<session>, not userDataDir//<session>.
case $root in
*/) root=${root%"${root##*[!/]}"} ;;
esac
[ -n "$root" ] || root=/

this_host=${SWEEP_HOSTNAME:-}
if [ -z "$this_host" ]; then
	this_host=$(hostname 2>/dev/null || uname -n)
fi
if [ -z "$this_host" ]; then
	echo "$me: cannot tell this host's name; set SWEEP_HOSTNAME" >&2
	exit 2
fi
proc=${SWEEP_PROC:-/proc}
verb=removed
[ "$dry_run" -eq 0 ] || verb='would remove'

# The physical path of a directory (symlinks resolved), or nothing.
physical() {
	(cd -P -- "$1" 2>/dev/null && pwd -P)
}

# Every --user-data-dir=<dir> on the command line of a live process, resolved to a physical path (relative values
# against that process's cwd: the engine's default CUSTOM_USER_DATA_DIR is ./userDataDir/). One per line.
profiles_in_use() {
	# One grep over all command lines picks the candidates (the [r] keeps grep from matching its own).
	grep -l -s -e '--user-data-di[r]=' "$proc"/[0-9]*/cmdline 2>/dev/null | while IFS= read -r cmdline; do
		pid_dir=${cmdline%/cmdline}
		tr '\000' '\n' <"$cmdline" 2>/dev/null | while IFS= read -r word; do
			case $word in
			--user-data-dir=?*) ;;
			*) continue ;;
			esac
			dir=${word#--user-data-dir=}
			case $dir in
			/*) physical "$dir" ;;
			*)
				cwd=$(readlink "$pid_dir/cwd" 2>/dev/null) || continue
				(cd -P -- "$cwd" 2>/dev/null && physical "$dir")
				;;
			esac
		done
	done 2>/dev/null
}
in_use=$(profiles_in_use)

# Whether a pid is a running process here: kill -0 succeeds (or fails only for lack of permission: another user's
# process) or /proc/<pid> exists, and it is not a zombie (<defunct>, a dead browser not yet reaped).
alive() {
	if err=$(kill -0 "$1" 2>&1) || [ -d "$proc/$1" ]; then
		:
	else
		case $err in
		*ermitted* | *EPERM*) ;;
		*) return 1 ;;
		esac
	fi
	stat=''
	[ -r "$proc/$1/stat" ] && IFS= read -r stat 2>/dev/null <"$proc/$1/stat"
	case ${stat##*) } in
	Z* | X*) return 1 ;;
	esac
	return 0
}

failed=0
checked=0
stale=0
held=0

remove_singletons() {
	for name in SingletonLock SingletonCookie SingletonSocket; do
		file=$1/$name
		# Only links and plain files: a directory of that name is not Chromium's and is left alone.
		if [ -L "$file" ]; then
			what=" -> $(readlink "$file" 2>/dev/null)"
		elif [ -f "$file" ]; then
			what=''
		else
			continue
		fi
		if [ "$dry_run" -eq 1 ]; then
			say "$verb $file$what"
		elif rm -f -- "$file" 2>/dev/null && [ ! -L "$file" ] && [ ! -e "$file" ]; then
			say "$verb $file$what"
		else
			say "FAILED to remove $file$what" >&2
			failed=1
		fi
	done
}

sweep_profile() {
	profile=$1
	lock=$profile/SingletonLock
	checked=$((checked + 1))
	if [ ! -L "$lock" ]; then
		[ -e "$lock" ] && say "$profile: SingletonLock is not a <host>-<pid> link: left alone (Chromium replaces it)"
		return 0
	fi
	target=$(readlink "$lock" 2>/dev/null) || target=''
	host=${target%-*}
	pid=${target##*-}
	case $target in
	*?-[0-9]*) ;;
	*) pid='' ;;
	esac
	case $pid in
	'' | *[!0-9]* | 0 | 0*)
		say "$profile: SingletonLock -> $target is not a <host>-<pid> link: left alone (Chromium replaces it)"
		return 0
		;;
	esac

	physical_profile=$(physical "$profile")
	if [ -n "$physical_profile" ] && printf '%s\n' "$in_use" | grep -Fqx -- "$physical_profile"; then
		say "$profile: held: a running process uses it (--user-data-dir); SingletonLock -> $target left alone"
		held=$((held + 1))
		return 0
	fi

	if [ "$host" != "$this_host" ]; then
		why="names another host ($host; this is $this_host)"
	elif ! alive "$pid"; then
		why="names pid $pid on this host, which is not running"
	else
		say "$profile: held by live pid $pid on this host: SingletonLock -> $target left alone"
		held=$((held + 1))
		return 0
	fi
	say "$profile: stale SingletonLock -> $target: $why"
	stale=$((stale + 1))
	remove_singletons "$profile"
}

sweep_profile "$root"
for entry in "$root"/* "$root"/.[!.]* "$root"/..?*; do
	# Unmatched globs stay literal; symlinked entries could lead out of the tree: both are skipped.
	if [ -d "$entry" ] && [ ! -L "$entry" ]; then
		sweep_profile "$entry"
	fi
done

mode=''
[ "$dry_run" -eq 0 ] || mode=' (dry run: nothing removed)'
say "done: $checked director(ies) checked in $root, $stale stale lock(s), $held held$mode"
exit "$failed"
