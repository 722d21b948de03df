package deploy

import _ "embed"

// SystemdUnit is systemd/websonic.service, the unit install.sh installs as
// /etc/systemd/system/websonic.service.
//
//go:embed systemd/websonic.service
var SystemdUnit []byte
