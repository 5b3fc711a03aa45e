# sshd.bash - a throwaway OpenSSH server on 127.0.0.1 for the tests of
# the distributed runs (pipelines/dist.mk).
#
#   sshd_start DIR   generate a host key and a client key in DIR, start
#                    /usr/sbin/sshd on a free port of 127.0.0.1 that lets
#                    this user in with the client key only; sets SSHD_PORT
#                    and SSH (the client command, without a host: no
#                    user config, no agent's keys, no host key checks)
#   sshd_stop DIR    stop it
#   sshd_logins DIR  sshd_start, and LOGINS: two logins to it (below)
#
# Needs root (sshd logs a user in only when it runs as root) and Debian's
# openssh-server; sshd_skip_reason says why a test cannot have one.  The
# sessions have HOME=DIR/home, so none of the user's dotfiles run there.

SSHD=/usr/sbin/sshd

# Print why no test sshd can run here (nothing when one can).
sshd_skip_reason() {
	if [ "$(id -u)" != 0 ]; then
		echo "not root (a test sshd needs root)"
	elif [ ! -x "$SSHD" ]; then
		echo "no $SSHD (Debian's openssh-server)"
	elif ! command -v ssh-keygen > /dev/null || ! command -v ssh > /dev/null; then
		echo "no ssh or ssh-keygen (Debian's openssh-client)"
	elif ! command -v rsync > /dev/null || ! command -v flock > /dev/null; then
		echo "no rsync or flock (Debian's rsync, util-linux)"
	fi
}

# For a suite of distributed runs, in setup_file: `sshd_can || return 0`
# (DIST_SKIP, why not, exported for setup), then sshd_logins DIR: the
# sshd started in DIR and LOGINS, two ssh logins to it as two hosts, one
# job at a time each (not in HOSTS: make would take it from the
# environment); SSH and LOGINS exported.  The suite's teardown_file and
# setup are below.
sshd_can() {
	DIST_SKIP=$(sshd_skip_reason)
	export DIST_SKIP
	[ -z "$DIST_SKIP" ]
}

sshd_logins() {
	sshd_start "$1" || return
	LOGINS="1/127.0.0.1 1/$(id -un)@127.0.0.1"
	export SSH LOGINS
}

teardown_file() {
	[ -n "$DIST_SKIP" ] || sshd_stop "$BATS_FILE_TMPDIR/sshd"
}

setup() {
	[ -z "$DIST_SKIP" ] || skip "$DIST_SKIP"
}

sshd_start() {
	local dir=$1
	mkdir -p "$dir"
	rm -f "$dir"/host_key* "$dir"/client_key*
	ssh-keygen -q -t ed25519 -N '' -C qf-test-host -f "$dir/host_key"
	ssh-keygen -q -t ed25519 -N '' -C qf-test-client -f "$dir/client_key"
	cp "$dir/client_key.pub" "$dir/authorized_keys"
	# the sessions' home: none of this user's dotfiles run there
	mkdir -p "$dir/home"
	# sshd's privilege separation directory (the service's unit makes it)
	[ -d /run/sshd ] || install -d -m 0755 /run/sshd
	for _ in 1 2 3 4 5; do
		SSHD_PORT=$(/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
		cat > "$dir/sshd_config" <<-EOF
		ListenAddress 127.0.0.1:$SSHD_PORT
		HostKey $dir/host_key
		AuthorizedKeysFile $dir/authorized_keys
		PermitRootLogin prohibit-password
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		StrictModes no
		UsePAM no
		PidFile $dir/sshd.pid
		MaxStartups 100
		MaxSessions 100
		LogLevel ERROR
		SetEnv HOME=$dir/home
		EOF
		rm -f "$dir/sshd.pid"
		# fd 3 closed: Bats waits for whatever holds it
		"$SSHD" -D -f "$dir/sshd_config" -E "$dir/sshd.log" 3>&- < /dev/null > /dev/null 2>&1 &
		echo $! > "$dir/sshd.child"
		SSH="ssh -F /dev/null -i $dir/client_key -o IdentitiesOnly=yes -p $SSHD_PORT -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=10"
		# until it answers, while it runs (a minute at most: a bound
		# for a machine that never gets there, not a guess of the time)
		local deadline=$((SECONDS + 60))
		while [ $SECONDS -lt $deadline ]; do
			if $SSH 127.0.0.1 true < /dev/null 2> /dev/null; then
				return 0
			fi
			kill -0 "$(cat "$dir/sshd.child")" 2> /dev/null || break
			sleep 0.1
		done
		sshd_stop "$dir"
	done
	echo "sshd_start: no sshd answering on 127.0.0.1 (see $dir/sshd.log)" >&2
	cat "$dir/sshd.log" >&2 2> /dev/null
	return 1
}

sshd_stop() {
	local dir=$1 pid
	[ -f "$dir/sshd.child" ] || return 0
	pid=$(cat "$dir/sshd.child")
	kill "$pid" 2> /dev/null || true
	local deadline=$((SECONDS + 60))
	while [ $SECONDS -lt $deadline ]; do
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.1
	done
	rm -f "$dir/sshd.child"
}
