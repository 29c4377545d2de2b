#!/bin/sh
# whoami CGI (as in the swarm seed): hostname, IP, uname and date of the container answering.
echo "Content-Type: text/plain"
echo ""
echo "hostname: $(hostname)"
echo "ip: $(hostname -i 2>/dev/null || busybox hostname -i)"
echo "uname: $(uname -a)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [ -f /srv/www/site/motd ]; then echo "site: $(cat /srv/www/site/motd)"; fi
