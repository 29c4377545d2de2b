# The private registry: Debian's distribution binary in an image FROM our own base image.
FROM powerops/debian:bookworm
COPY registry /usr/bin/registry
RUN mkdir -p /etc/docker/registry /certs /auth /var/lib/registry
VOLUME ["/var/lib/registry"]
EXPOSE 5000
ENTRYPOINT ["/usr/bin/registry"]
CMD ["serve", "/etc/docker/registry/config.yml"]
