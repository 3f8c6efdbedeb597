# shellcheck shell=bash disable=SC2034 # variables are used by the scripts that source this file
# The secured test broker: what kafka-up.sh --secure adds to the plain one.
# Sourced by kafka-up.sh after lib.sh, not run. Under $KAFKA_CACHE (default
# <repo>/.cache/kafka-secure), never committed:
#   tls/     a private test CA (ca.crt, ca.key), the broker's certificate for
#            127.0.0.1/localhost (broker.pem: key + chain, Kafka's PEM keystore)
#            and one client certificate per user (<user>.crt, <user>.key, <user>.pem),
#            made with openssl; remade when missing or expiring within a day
#   users/   <user>.password: SCRAM passwords, random, made before the storage is
#            formatted (the credentials are written by `kafka-storage format --add-scram`)
#   acls.applied   cluster id + sha256 of secure-acls.txt the ACLs were created for
#   run/admin.properties   Kafka client settings of the admin (mTLS, super user)
#   run/secure.env         KEY=VALUE description of the broker for tests
#
# Listeners (all on 127.0.0.1; no plaintext listener at all):
#   $KAFKA_PORT      SASL_SSL: SCRAM-SHA-512, SCRAM-SHA-256, PLAIN, OAUTHBEARER (unsecured JWT validator)
#   $KAFKA_PORT+1    SSL with ssl.client.auth=required (principal = certificate CN)
#   $KAFKA_PORT+2    SSL, inter-broker (the broker's own certificate)
#   $KAFKA_PORT+3    SSL, KRaft controller
# Authorizer: org.apache.kafka.metadata.authorizer.StandardAuthorizer, super users
# broker and admin, no access without an ACL; ACLs from secure-acls.txt.

KAFKA_TLS="$KAFKA_CACHE/tls"
KAFKA_USERS="$KAFKA_CACHE/users"
KAFKA_ACLS_SPEC="$KAFKA_DIR/secure-acls.txt"
KAFKA_ACLS_APPLIED="$KAFKA_CACHE/acls.applied"
KAFKA_ADMIN_PROPS="$KAFKA_RUN/admin.properties"
KAFKA_SECURE_ENV="$KAFKA_RUN/secure.env"
KAFKA_SSL_PORT=$((KAFKA_PORT + 1))
KAFKA_INTERNAL_PORT=$((KAFKA_PORT + 2))
# Every user has a SCRAM credential (SHA-256 and SHA-512), a PLAIN password and a
# client certificate; the principal is User:<name> on both listeners.
SECURE_USERS=(admin streamscore-alos streamscore-eos streamscore-nodlq reader)

secure_ports() { echo "$KAFKA_PORT" "$KAFKA_SSL_PORT" "$KAFKA_INTERNAL_PORT" "$KAFKA_CONTROLLER_PORT"; }

# issue_cert NAME EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]: a P-256 key and a
# certificate for CN=NAME signed by the test CA, in $KAFKA_TLS.tmp.
issue_cert() {
	local name="$1" eku="$2" san="${3:-}" dir="$KAFKA_TLS.tmp"
	openssl req -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$name" 2>/dev/null
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature"
		echo "extendedKeyUsage=$eku"
		[[ -z "$san" ]] || echo "subjectAltName=$san"
	} >"$dir/$name.ext"
	openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
		-days 365 -sha256 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
	cat "$dir/$name.key" "$dir/$name.crt" >"$dir/$name.pem" # Kafka's PEM keystore: PKCS#8 key, then the chain
	rm -f "$dir/$name.csr" "$dir/$name.ext"
}

# make_certs: the test CA and every certificate, unless a complete set that is
# valid for another day exists.
make_certs() {
	if [[ -f "$KAFKA_TLS/.complete" ]] && openssl x509 -checkend 86400 -noout -in "$KAFKA_TLS/broker.crt" >/dev/null 2>&1; then
		return 0
	fi
	command -v openssl >/dev/null || die "openssl not found (run scripts/install-deps.sh)"
	log "making a test CA and certificates in $KAFKA_TLS"
	rm -rf "$KAFKA_TLS.tmp"
	mkdir -p "$KAFKA_TLS.tmp"
	chmod 700 "$KAFKA_TLS.tmp"
	openssl req -x509 -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 365 -sha256 \
		-keyout "$KAFKA_TLS.tmp/ca.key" -out "$KAFKA_TLS.tmp/ca.crt" -subj "/CN=streamscore test CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
		die "openssl could not make the test CA"
	# The broker's certificate also identifies it to its own controller and
	# inter-broker listeners (mutual TLS there too), hence clientAuth.
	issue_cert broker serverAuth,clientAuth "DNS:localhost,IP:127.0.0.1" || die "openssl could not make the broker certificate"
	local u
	for u in "${SECURE_USERS[@]}"; do
		issue_cert "$u" clientAuth || die "openssl could not make the certificate of $u"
	done
	touch "$KAFKA_TLS.tmp/.complete"
	rm -rf "$KAFKA_TLS"
	mv "$KAFKA_TLS.tmp" "$KAFKA_TLS"
}

# make_passwords: a random password per user, kept with the data they were
# formatted into (a data dir without them cannot be used: wipe it).
make_passwords() {
	if [[ -f "$KAFKA_DATA/meta.properties" && ! -d "$KAFKA_USERS" ]]; then
		die "$KAFKA_DATA was formatted with SCRAM passwords that are gone from $KAFKA_USERS; wipe it: bash deploy/kafka/kafka-down.sh --secure --wipe"
	fi
	mkdir -p "$KAFKA_USERS"
	chmod 700 "$KAFKA_USERS"
	local u
	for u in "${SECURE_USERS[@]}"; do
		[[ -s "$KAFKA_USERS/$u.password" ]] || (umask 077 && openssl rand -hex 16 | tr -d '\n' >"$KAFKA_USERS/$u.password")
	done
}

password() { cat "$KAFKA_USERS/$1.password"; }

# secure_format_args: the --add-scram arguments of `kafka-storage format`.
secure_format_args() {
	local u
	for u in "${SECURE_USERS[@]}"; do
		echo "--add-scram"
		echo "SCRAM-SHA-512=[name=$u,password=$(password "$u")]"
		echo "--add-scram"
		echo "SCRAM-SHA-256=[name=$u,password=$(password "$u")]"
	done
}

# secure_listener_config: the listener, TLS, SASL and authorizer part of server.properties.
secure_listener_config() {
	local plain_users="" u
	for u in "${SECURE_USERS[@]}"; do
		plain_users+=" user_$u=\"$(password "$u")\""
	done
	cat <<EOF
listeners=SASL_SSL://$KAFKA_HOST:$KAFKA_PORT,SSL://$KAFKA_HOST:$KAFKA_SSL_PORT,INTERNAL://$KAFKA_HOST:$KAFKA_INTERNAL_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_SSL://$KAFKA_HOST:$KAFKA_PORT,SSL://$KAFKA_HOST:$KAFKA_SSL_PORT,INTERNAL://$KAFKA_HOST:$KAFKA_INTERNAL_PORT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,INTERNAL:SSL,CONTROLLER:SSL

# TLS everywhere, PEM files made by secure.sh. Client certificates are required on
# the SSL listeners (not on SASL_SSL: a broker-wide ssl.client.auth does not apply
# there); the principal is the certificate's CN.
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_TLS/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_TLS/ca.crt
ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]+)\$/\$1/,DEFAULT

# SASL on the SASL_SSL listener. SCRAM credentials live in the cluster metadata
# (kafka-storage format --add-scram); PLAIN users are listed here; OAUTHBEARER uses
# Kafka's unsecured JWT validator (unsigned tokens, principal = the sub claim), which
# tests the client's token handling, not a real identity provider.
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN,OAUTHBEARER
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";

# ACLs: no access without one; the broker and the admin are super users.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:broker;User:admin
allow.everyone.if.no.acl.found=false
EOF
}

# write_admin_properties: Kafka client settings of the admin (mutual TLS on the SSL listener).
write_admin_properties() {
	cat >"$KAFKA_ADMIN_PROPS" <<EOF
# Generated by kafka-up.sh --secure: the admin (super user) over mutual TLS.
security.protocol=SSL
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_TLS/ca.crt
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_TLS/admin.pem
EOF
}

# kafkacheck_tls_args: how kafkacheck reaches the secured broker (admin, SSL listener).
kafkacheck_tls_args() {
	echo "-brokers=$KAFKA_HOST:$KAFKA_SSL_PORT"
	echo "-tls-ca=$KAFKA_TLS/ca.crt"
	echo "-tls-cert=$KAFKA_TLS/admin.crt"
	echo "-tls-key=$KAFKA_TLS/admin.key"
}

acls_spec_sum() { sha256sum "$KAFKA_ACLS_SPEC" | awk '{print $1}'; }
cluster_id() { awk -F= '$1 == "cluster.id" {print $2}' "$KAFKA_DATA/meta.properties" 2>/dev/null; }

# acls_current: the running cluster got the ACLs of the current spec.
acls_current() {
	[[ -f "$KAFKA_ACLS_APPLIED" && "$(cat "$KAFKA_ACLS_APPLIED")" == "$(cluster_id) $(acls_spec_sum)" ]]
}

# acls_stale: ACLs were made from another version of the spec on this data dir,
# so the data dir must be formatted anew (removing ACLs one by one is not worth it
# on a test broker).
acls_stale() {
	[[ -f "$KAFKA_DATA/meta.properties" && -f "$KAFKA_ACLS_APPLIED" ]] && ! acls_current
}

# acl_command ARGS...: Kafka's own kafka-acls tool, as the admin.
acl_command() {
	java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "-Dlog4j2.configurationFile=file:$KAFKA_RUN/tools-log4j2.xml" \
		-cp "$KAFKA_LIBS/*" org.apache.kafka.tools.AclCommand \
		--bootstrap-server "$KAFKA_HOST:$KAFKA_SSL_PORT" --command-config "$KAFKA_ADMIN_PROPS" "$@"
}

# provision_acls: one kafka-acls call per line of secure-acls.txt (three at a
# time: each is a JVM start), once per cluster and spec.
provision_acls() {
	acls_current && return 0
	log "creating the ACLs of $(basename "$KAFKA_ACLS_SPEC") with kafka-acls"
	cat >"$KAFKA_RUN/tools-log4j2.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders><Console name="stderr" target="SYSTEM_ERR"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console></Appenders>
  <Loggers><Root level="WARN"><AppenderRef ref="stderr"/></Root></Loggers>
</Configuration>
XML
	local principal resource pattern name ops op n=0 failed=0 args
	local -a pids=()
	while read -r principal resource pattern name ops; do
		[[ -z "$principal" || "$principal" == \#* ]] && continue
		args=(--add --allow-principal "User:$principal" "--$resource" "$name" --resource-pattern-type "$pattern")
		for op in ${ops//,/ }; do
			args+=(--operation "$op")
		done
		acl_command "${args[@]}" >>"$KAFKA_LOG" 2>&1 &
		pids+=($!)
		n=$((n + 1))
		if ((${#pids[@]} >= 3)); then
			wait "${pids[0]}" || failed=$((failed + 1))
			pids=("${pids[@]:1}")
		fi
	done <"$KAFKA_ACLS_SPEC"
	for op in "${pids[@]}"; do
		wait "$op" || failed=$((failed + 1))
	done
	((failed == 0)) || die "kafka-acls failed $failed of $n times; see $KAFKA_LOG"
	echo "$(cluster_id) $(acls_spec_sum)" >"$KAFKA_ACLS_APPLIED"
	log "created the ACLs of $n lines"
}

# write_secure_env: what a test needs to reach the secured broker.
write_secure_env() {
	cat >"$KAFKA_SECURE_ENV" <<EOF
# Generated by kafka-up.sh --secure. KEY=VALUE, no quoting.
SASL_SSL_BOOTSTRAP=$KAFKA_HOST:$KAFKA_PORT
SSL_BOOTSTRAP=$KAFKA_HOST:$KAFKA_SSL_PORT
CA_FILE=$KAFKA_TLS/ca.crt
CERT_DIR=$KAFKA_TLS
PASSWORD_DIR=$KAFKA_USERS
ADMIN_PROPERTIES=$KAFKA_ADMIN_PROPS
ACLS=$KAFKA_ACLS_SPEC
USERS=${SECURE_USERS[*]}
EOF
}
