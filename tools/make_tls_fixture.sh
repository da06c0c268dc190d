#!/bin/sh
# Self-signed certificate for 127.0.0.1, used only by test/weights-download.test.ts to run a local https
# server (redirect checks). Valid for 100 years; regenerate with: sh tools/make_tls_fixture.sh
set -e
out="$(dirname "$0")/../test/fixtures/tls"
mkdir -p "$out"
openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$out/127.0.0.1.key" -out "$out/127.0.0.1.crt"
