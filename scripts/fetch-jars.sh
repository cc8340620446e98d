#!/usr/bin/env bash
# Fetch the external Java tools the test harness uses, from Maven Central, into a
# cache directory outside the clone:
#   <cache>/jwarc/jwarc.jar            -> jwarc-<version>.jar (WARC validator CLI)
#   <cache>/kafka-<version>/libs/*.jar    Apache Kafka broker + log4j2 + all deps
#   <cache>/s3proxy/s3proxy.jar        -> s3proxy-<version>-jar-with-dependencies.jar
#                                         (S3 server for the s3 item store tests; standalone)
# <cache> is ${FILESET_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fileset-ingest}.
#
# `fetch-jars.sh jwarc` fetches only jwarc (one jar, straight from Maven Central with curl: no
# Maven needed), as the demo does.
# Idempotent: when everything is present it runs no Maven and returns at once.
# Prints KEY=VALUE lines (FILESET_TOOLS_CACHE, FILESET_JWARC_JAR, FILESET_KAFKA_LIBS,
# FILESET_KAFKA_VERSION, FILESET_S3PROXY_JAR) on stdout; progress goes to stderr.
set -euo pipefail

JWARC_VERSION="0.36.0"   # newest org.netpreserve:jwarc on Maven Central
KAFKA_VERSION="4.1.2"    # newest org.apache.kafka:kafka_2.13 4.1.x patch
LOG4J_VERSION="2.24.3"   # the log4j2 version Kafka 4.1 ships with
S3PROXY_VERSION="4.1.0"  # newest org.gaul:s3proxy on Maven Central (needs Java 17)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/tools/pom.xml"
cache="${FILESET_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fileset-ingest}"
jwarc_dir="$cache/jwarc"
jwarc_jar="$jwarc_dir/jwarc.jar"
kafka_libs="$cache/kafka-$KAFKA_VERSION/libs"
s3proxy_dir="$cache/s3proxy"
s3proxy_jar="$s3proxy_dir/s3proxy.jar"
s3proxy_file="s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar"

report() {
  echo "FILESET_TOOLS_CACHE=$cache"
  echo "FILESET_JWARC_JAR=$jwarc_jar"
  echo "FILESET_KAFKA_LIBS=$kafka_libs"
  echo "FILESET_KAFKA_VERSION=$KAFKA_VERSION"
  echo "FILESET_S3PROXY_JAR=$s3proxy_jar"
}

have_all() {
  [ -d "$kafka_libs" ] && [ -f "$jwarc_dir/jwarc-$JWARC_VERSION.jar" ] &&
    [ "$(readlink "$jwarc_jar" 2>/dev/null || true)" = "jwarc-$JWARC_VERSION.jar" ] &&
    [ -f "$s3proxy_dir/$s3proxy_file" ] &&
    [ "$(readlink "$s3proxy_jar" 2>/dev/null || true)" = "$s3proxy_file" ]
}

if [ "${1:-all}" = jwarc ]; then
  if [ ! -f "$jwarc_dir/jwarc-$JWARC_VERSION.jar" ]; then
    command -v curl >/dev/null 2>&1 || { echo "fetch-jars: curl is needed to fetch jwarc" >&2; exit 1; }
    echo "fetch-jars: fetching org.netpreserve:jwarc:$JWARC_VERSION" >&2
    mkdir -p "$jwarc_dir"
    tmp="$(mktemp "$jwarc_dir/.jwarc.XXXXXX")"
    curl -fsSL -o "$tmp" \
      "https://repo1.maven.org/maven2/org/netpreserve/jwarc/$JWARC_VERSION/jwarc-$JWARC_VERSION.jar" ||
      { rm -f "$tmp"; echo "fetch-jars: cannot download jwarc from Maven Central" >&2; exit 1; }
    chmod 644 "$tmp"
    mv "$tmp" "$jwarc_dir/jwarc-$JWARC_VERSION.jar"
  fi
  ln -sfn "jwarc-$JWARC_VERSION.jar" "$jwarc_jar"
  report
  exit 0
fi

# Fast path: nothing to do.
if have_all; then
  report
  exit 0
fi

command -v mvn >/dev/null 2>&1 || { echo "fetch-jars: Maven (mvn) is needed to fetch Kafka and S3Proxy" >&2; exit 1; }
mkdir -p "$cache"
# Serialise concurrent fetches (e.g. two test runs starting at once).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/.fetch.lock"
  flock 9
  if have_all; then report; exit 0; fi
fi

# Run Maven quietly; show its output only when it fails.
mvn_run() {
  local log
  log="$(mktemp)"
  if ! mvn -B -q -f "$pom" -Dkafka.version="$KAFKA_VERSION" \
      -Dlog4j.version="$LOG4J_VERSION" -Djwarc.version="$JWARC_VERSION" \
      -Ds3proxy.version="$S3PROXY_VERSION" "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "fetch-jars: mvn $* failed" >&2
    return 1
  fi
  rm -f "$log"
}

if [ ! -f "$jwarc_dir/jwarc-$JWARC_VERSION.jar" ]; then
  echo "fetch-jars: fetching org.netpreserve:jwarc:$JWARC_VERSION" >&2
  mkdir -p "$jwarc_dir"
  tmp="$(mktemp -d "$cache/.jwarc.XXXXXX")"
  mvn_run dependency:copy -Dartifact="org.netpreserve:jwarc:$JWARC_VERSION" -DoutputDirectory="$tmp"
  mv "$tmp/jwarc-$JWARC_VERSION.jar" "$jwarc_dir/jwarc-$JWARC_VERSION.jar"
  rm -rf "$tmp"
fi
ln -sfn "jwarc-$JWARC_VERSION.jar" "$jwarc_jar"

if [ ! -f "$s3proxy_dir/$s3proxy_file" ]; then
  echo "fetch-jars: fetching org.gaul:s3proxy:$S3PROXY_VERSION:jar-with-dependencies" >&2
  mkdir -p "$s3proxy_dir"
  tmp="$(mktemp -d "$cache/.s3proxy.XXXXXX")"
  # The jar-with-dependencies classifier is S3Proxy's own runnable build (jclouds included).
  mvn_run dependency:copy -Dartifact="org.gaul:s3proxy:$S3PROXY_VERSION:jar:jar-with-dependencies" \
    -DoutputDirectory="$tmp"
  mv "$tmp/$s3proxy_file" "$s3proxy_dir/$s3proxy_file"
  rm -rf "$tmp"
fi
ln -sfn "$s3proxy_file" "$s3proxy_jar"

if [ ! -d "$kafka_libs" ]; then
  echo "fetch-jars: fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION + log4j2 $LOG4J_VERSION" >&2
  mkdir -p "$cache/kafka-$KAFKA_VERSION"
  tmp="$(mktemp -d "$cache/kafka-$KAFKA_VERSION/.libs.XXXXXX")"
  mvn_run dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp"
  chmod 755 "$tmp"
  # Publish atomically: libs/ exists only when complete.
  mv "$tmp" "$kafka_libs"
fi

report
