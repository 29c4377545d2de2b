from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, field_validator

from blocks.ssh import SshTarget
from seams.openstack import OpenStackParams


class PowerVC(Block):
    """A PowerVC (OpenStack) cloud: its API endpoint and admin credentials, plus the management host over SSH.

    The API part is what ``clouds.yaml`` holds (auth URL, project/user domains, CA file). The SSH part and the
    paths/commands are for what PowerVC only offers on its management host (nova.conf, cinder*.conf,
    ``powervc-services``, ``powervc-config``, ``ceilometer-expirer``); defaults are those of a real PowerVC.
    """

    _block_type_name = "powerops PowerVC"
    _block_type_slug = "powerops-powervc"
    _description = "A PowerVC / OpenStack cloud: Keystone v3 endpoint, CA, admin credentials, management host."

    auth_url: str = Field(description="Keystone v3 URL, e.g. https://powervc.example:5000/v3.")
    username: str = Field(default="root", description="Cloud administrator user name.")
    password: SecretStr = Field(description="Cloud administrator password.")
    project_name: str = Field(default="ibm-default", description="Project the administrator scopes to.")
    user_domain_name: str = Field(default="Default", description="Domain of the administrator user.")
    project_domain_name: str = Field(default="Default", description="Domain of the administrator project.")
    region_name: str = Field(default="RegionOne", description="Region name in the service catalog.")
    ca_cert: str = Field(default="", description="PEM CA certificate that signed the API certificate "
                         "(PowerVC: /etc/pki/tls/certs/powervc.crt). Empty = system trust store.")
    compute_api_version: str = Field(default="2.79", description="Nova microversion used by the flows.")
    ssh: SshTarget | None = Field(default=None, description="SSH target of the PowerVC management host "
                                  "(needed for configuration checks, service restarts and metering).")
    nova_conf_path: str = Field(default="/etc/nova/nova.conf", description="nova.conf on the management host.")
    cinder_conf_paths: list[str] = Field(
        default_factory=lambda: ["/etc/cinder/cinder.conf"],
        description="Every cinder configuration file to check (PowerVC has one per storage provider).")
    ceilometer_conf_path: str = Field(default="/etc/ceilometer/ceilometer.conf",
                                      description="ceilometer.conf on the management host.")
    services_command: list[str] = Field(default_factory=lambda: ["/opt/ibm/powervc/bin/powervc-services"],
                                        description="powervc-services command (argv).")
    scheduler_service_names: list[str] = Field(
        default_factory=list,
        description="Service names passed to 'powervc-services restart' to restart the scheduler; empty "
        "restarts every PowerVC service as the seed does.")
    powervc_config_command: list[str] = Field(default_factory=lambda: ["/usr/bin/powervc-config"],
                                              description="powervc-config command (argv).")
    ceilometer_expirer_command: list[str] = Field(default_factory=lambda: ["/usr/bin/ceilometer-expirer"],
                                                  description="ceilometer-expirer command (argv).")
    db_client_command: list[str] = Field(
        default_factory=lambda: ["mysql"], description="MariaDB client on the management host (argv, without a "
        "password: root's socket authentication or a ~/.my.cnf there). Used only by the guarded database repair.")
    db_dump_command: list[str] = Field(default_factory=lambda: ["mysqldump"],
                                       description="mysqldump on the management host (argv), for backups.")
    backup_dir: str = Field(default="/var/backups/powerops", description="Where configuration backups are "
                            "written on the management host before an edit.")

    @field_validator("auth_url")
    @classmethod
    def _auth_url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("auth_url must be an https:// URL")
        return v.rstrip("/")

    @classmethod
    def from_clouds_yaml(cls, text: str, cloud: str, **extra: object) -> PowerVC:
        """A block from a ``clouds.yaml`` entry (auth URL, user/project and domains, region, CA file);
        ``extra`` sets the management-host fields (ssh, paths). The CA file is read into the block."""
        import pathlib

        import yaml

        entry = (yaml.safe_load(text) or {}).get("clouds", {}).get(cloud)
        if not entry:
            raise ValueError(f"cloud {cloud!r} is not in clouds.yaml")
        auth = entry.get("auth", {})
        cacert = entry.get("cacert")
        values: dict[str, object] = {
            "auth_url": auth["auth_url"], "username": auth["username"], "password": auth.get("password", ""),
            "project_name": auth.get("project_name", "ibm-default"),
            "user_domain_name": auth.get("user_domain_name", "Default"),
            "project_domain_name": auth.get("project_domain_name", "Default"),
            "region_name": entry.get("region_name", "RegionOne"),
            "ca_cert": pathlib.Path(cacert).read_text() if cacert else "",
        }
        values.update(extra)
        return cls(**values)

    def params(self) -> OpenStackParams:
        return OpenStackParams(
            auth_url=self.auth_url, username=self.username, password=self.password.get_secret_value(),
            project_name=self.project_name, user_domain_name=self.user_domain_name,
            project_domain_name=self.project_domain_name, region_name=self.region_name,
            ca_cert=self.ca_cert, compute_api_version=self.compute_api_version)
