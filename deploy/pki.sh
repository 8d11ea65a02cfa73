#!/usr/bin/env bash
# pki.sh — a development PKI for overstapd with the openssl CLI (DESIGN §4.1).
#
#   pki.sh DIR                       the CA, the server certificate and the default
#                                    client certificates (below); reuses what exists
#   pki.sh issue DIR ROLE ORG [NAME] one more client certificate: subject OU=ROLE, CN=ORG,
#                                    written to DIR/NAME.crt/.key (NAME = ROLE-ORG)
#   pki.sh expired DIR ROLE ORG [NAME]  a client certificate that expired yesterday
#                                    (NAME = expired-ROLE-ORG)
#   pki.sh revoke DIR NAME           revoke DIR/NAME.crt and rewrite DIR/crl.pem
#   pki.sh crl DIR                   rewrite DIR/crl.pem
#
# Files in DIR: ca.crt (the CA clients and server trust), ca.key, server.crt/.key
# (CN=localhost, SAN localhost + 127.0.0.1), ROLE-ORG.crt/.key per client, crl.pem,
# ca/ (the openssl ca database). The default set:
#   vo-25LX00 vo-25LY00 vo-26HL00 (Terra Nigra, Maastricht, region 39) vo-02FC00 (Doetinchem,
#   region 13)  mbo-25LP mbo-25LQ  rmc-39 rmc-13  projectteam-39 projectteam-13  admin-ops
#   expired-vo-25LX00 (expired)  revoked-vo-25LX00 (revoked, in crl.pem)
#   other-ca.crt/.key: a vo-25LX00 certificate from a second CA (other-ca/), which
#   the server must refuse.
# Keys are EC P-256, mode 0600; PKI_CLIENT_KEY=ed25519 gives the client certificates
# issued from then on Ed25519 keys instead (what a school system's certificate may
# be: 1.8 KB less per connection in the daemon, README "Performance" (e); browsers
# do not take them). Certificates are valid 10 years. For development and tests
# only: a real deployment gets its certificates from its own CA.
set -euo pipefail
umask 077

DAYS=3650

die() { echo "pki.sh: $*" >&2; exit 1; }
usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# write_ca_config CADIR — the openssl ca configuration of one CA.
write_ca_config() {
	local cadir=$1
	mkdir -p "$cadir/newcerts"
	[[ -f $cadir/index.txt ]] || : >"$cadir/index.txt"
	[[ -f $cadir/serial ]] || openssl rand -hex 8 >"$cadir/serial"
	[[ -f $cadir/crlnumber ]] || echo 1000 >"$cadir/crlnumber"
	cat >"$cadir/openssl.cnf" <<-CNF
		[ ca ]
		default_ca = dev_ca
		[ dev_ca ]
		dir = $cadir
		database = \$dir/index.txt
		new_certs_dir = \$dir/newcerts
		serial = \$dir/serial
		crlnumber = \$dir/crlnumber
		default_md = sha256
		default_days = $DAYS
		default_crl_days = $DAYS
		policy = any
		unique_subject = no
		preserve = yes
		email_in_dn = no
		[ any ]
		organizationName = optional
		organizationalUnitName = optional
		commonName = supplied
		[ req ]
		distinguished_name = dn
		prompt = no
		[ dn ]
		CN = unused
		[ v3_ca ]
		basicConstraints = critical, CA:true, pathlen:0
		keyUsage = critical, keyCertSign, cRLSign
		subjectKeyIdentifier = hash
		[ client ]
		basicConstraints = critical, CA:false
		keyUsage = critical, digitalSignature, keyEncipherment
		extendedKeyUsage = clientAuth
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
		[ server ]
		basicConstraints = critical, CA:false
		keyUsage = critical, digitalSignature, keyEncipherment
		extendedKeyUsage = serverAuth
		subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
	CNF
}

new_key() { # FILE [ALGORITHM: p256 (default) or ed25519]
	case ${2:-p256} in
	p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null ;;
	ed25519) openssl genpkey -algorithm ED25519 -out "$1" 2>/dev/null ;;
	*) die "unknown key type '$2' (p256 or ed25519)" ;;
	esac
	chmod 600 "$1"
}

# make_ca DIR/ca-folder CRT KEY SUBJECT
make_ca() {
	local cadir=$1 crt=$2 key=$3 subj=$4
	write_ca_config "$cadir"
	if [[ -f $crt && -f $key ]]; then
		return
	fi
	new_key "$key"
	openssl req -new -x509 -config "$cadir/openssl.cnf" -extensions v3_ca -key "$key" \
		-subj "$subj" -days $((DAYS + 365)) -sha256 -out "$crt"
	chmod 644 "$crt"
}

# sign CADIR CACRT CAKEY OUTBASE SUBJECT EXTENSIONS [openssl ca date options...]
sign() {
	local cadir=$1 cacrt=$2 cakey=$3 out=$4 subj=$5 ext=$6
	shift 6
	local csr
	csr=$(mktemp)
	local alg=p256
	[[ $ext == client ]] && alg=${PKI_CLIENT_KEY:-p256}
	[[ -f $out.key ]] || new_key "$out.key" "$alg"
	openssl req -new -config "$cadir/openssl.cnf" -key "$out.key" -subj "$subj" -out "$csr"
	openssl ca -batch -config "$cadir/openssl.cnf" -cert "$cacrt" -keyfile "$cakey" \
		-extensions "$ext" -notext -preserveDN -in "$csr" -out "$out.crt.tmp" "$@" 2>"$csr.log" ||
		{ cat "$csr.log" >&2; rm -f "$csr" "$csr.log"; die "signing $subj failed"; }
	mv "$out.crt.tmp" "$out.crt"
	chmod 644 "$out.crt"
	rm -f "$csr" "$csr.log"
}

# valid CACRT CRT — the certificate exists and chains to this CA (time not checked:
# the expired one is valid for this purpose).
valid() {
	[[ -f $2 && -f ${2%.crt}.key ]] && openssl verify -no_check_time -CAfile "$1" "$2" >/dev/null 2>&1
}

subject() { # ROLE ORG
	[[ $1 =~ ^[a-z]+$ ]] || die "bad role '$1'"
	[[ $2 =~ ^[A-Za-z0-9._-]+$ ]] || die "bad organisation '$2'"
	echo "/O=overstap development/OU=$1/CN=$2"
}

init_ca() {
	local dir=$1
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	make_ca "$dir/ca" "$dir/ca.crt" "$dir/ca.key" "/O=overstap development/CN=overstap development CA"
	echo "$dir"
}

cmd_issue() { # DIR ROLE ORG [NAME]
	local dir subj name=${4:-$2-$3}
	dir=$(init_ca "$1")
	subj=$(subject "$2" "$3")
	valid "$dir/ca.crt" "$dir/$name.crt" || sign "$dir/ca" "$dir/ca.crt" "$dir/ca.key" "$dir/$name" "$subj" client
}

cmd_expired() { # DIR ROLE ORG [NAME]
	local dir subj name=${4:-expired-$2-$3} start end
	dir=$(init_ca "$1")
	subj=$(subject "$2" "$3")
	valid "$dir/ca.crt" "$dir/$name.crt" && return
	start=$(date -u -d '-30 days' +%Y%m%d%H%M%SZ)
	end=$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)
	sign "$dir/ca" "$dir/ca.crt" "$dir/ca.key" "$dir/$name" "$subj" client -startdate "$start" -enddate "$end"
}

cmd_crl() { # DIR
	local dir
	dir=$(init_ca "$1")
	openssl ca -batch -config "$dir/ca/openssl.cnf" -cert "$dir/ca.crt" -keyfile "$dir/ca.key" \
		-gencrl -out "$dir/crl.pem.tmp" 2>/dev/null
	mv "$dir/crl.pem.tmp" "$dir/crl.pem"
	chmod 644 "$dir/crl.pem"
}

cmd_revoke() { # DIR NAME
	local dir serial
	dir=$(init_ca "$1")
	[[ -f $dir/$2.crt ]] || die "no certificate $dir/$2.crt"
	serial=$(openssl x509 -in "$dir/$2.crt" -noout -serial | cut -d= -f2)
	if ! grep -q "^R.*	$serial	" "$dir/ca/index.txt"; then
		openssl ca -batch -config "$dir/ca/openssl.cnf" -cert "$dir/ca.crt" -keyfile "$dir/ca.key" \
			-revoke "$dir/$2.crt" 2>/dev/null
	fi
	cmd_crl "$dir"
}

cmd_all() { # DIR
	local dir subj
	dir=$(init_ca "$1")
	if ! valid "$dir/ca.crt" "$dir/server.crt"; then
		sign "$dir/ca" "$dir/ca.crt" "$dir/ca.key" "$dir/server" "/O=overstap development/CN=localhost" server
	fi
	local c
	for c in vo/25LX00 vo/25LY00 vo/26HL00 vo/02FC00 mbo/25LP mbo/25LQ rmc/39 rmc/13 \
		projectteam/39 projectteam/13 admin/ops; do
		cmd_issue "$dir" "${c%/*}" "${c#*/}"
	done
	cmd_expired "$dir" vo 25LX00
	if ! valid "$dir/ca.crt" "$dir/revoked-vo-25LX00.crt"; then
		cmd_issue "$dir" vo 25LX00 revoked-vo-25LX00
		cmd_revoke "$dir" revoked-vo-25LX00
	fi
	[[ -f $dir/crl.pem ]] || cmd_crl "$dir"
	# A client certificate from a CA the server does not trust.
	make_ca "$dir/other-ca" "$dir/other-ca/ca.crt" "$dir/other-ca/ca.key" \
		"/O=somebody else/CN=another CA"
	if ! valid "$dir/other-ca/ca.crt" "$dir/other-ca.crt"; then
		subj=$(subject vo 25LX00)
		sign "$dir/other-ca" "$dir/other-ca/ca.crt" "$dir/other-ca/ca.key" "$dir/other-ca" "$subj" client
	fi
}

(($# >= 1)) || usage
case $1 in
	issue) (($# == 4 || $# == 5)) || usage; shift; cmd_issue "$@" ;;
	expired) (($# == 4 || $# == 5)) || usage; shift; cmd_expired "$@" ;;
	revoke) (($# == 3)) || usage; shift; cmd_revoke "$@" ;;
	crl) (($# == 2)) || usage; cmd_crl "$2" ;;
	-h | --help | help) usage ;;
	-*) usage ;;
	*) (($# == 1)) || usage; cmd_all "$1" ;;
esac
