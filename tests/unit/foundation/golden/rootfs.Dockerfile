# Base image from a rootfs tarball built by powerops (build-base-image); the platform is set at build time.
FROM scratch
ADD rootfs.tar /
LABEL org.powerops.rootfs-key="@KEY@" \
      org.powerops.family="debian" \
      org.powerops.suite="bookworm" \
      org.powerops.arch="ppc64el"
CMD ["/bin/sh"]
