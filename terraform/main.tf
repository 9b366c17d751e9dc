locals {
  labels = { system = var.name }

  # Every client, keyed by its name: role (meta.gewebe_role), volume and fixed private address.
  # Fixed addresses let the NATS, KeyDB and Typesense jobs take their peers as variables.
  clients = merge(
    { for i in range(var.edge_nodes) : "edge-${i + 1}" => { role = "edge", slot = "", ip = cidrhost(var.private_cidr, 256 + 11 + i), volume = true } },
    { for i in range(var.app_nodes) : "app-${i + 1}" => { role = "app", slot = "", ip = cidrhost(var.private_cidr, 512 + 11 + i), volume = false } },
    { for i, s in ["a", "b"] : "db-${s}" => { role = "db", slot = s, ip = cidrhost(var.private_cidr, 768 + 11 + i), volume = true } },
    { for i in range(3) : "nats-${i + 1}" => { role = "nats", slot = "", ip = cidrhost(var.private_cidr, 1024 + 11 + i), volume = true } },
    { for i in range(2) : "cache-${i + 1}" => { role = "cache", slot = "", ip = cidrhost(var.private_cidr, 1280 + 11 + i), volume = true } },
    { for i in range(3) : "search-${i + 1}" => { role = "search", slot = "", ip = cidrhost(var.private_cidr, 1536 + 11 + i), volume = true } },
    { "ops-1" = { role = "ops", slot = "", ip = cidrhost(var.private_cidr, 1792 + 11), volume = true } },
  )

  # The host volume names each role's jobs mount (nomad-jobs/*.nomad.hcl), all on the role's volume.
  host_volumes = {
    edge   = ["caddy-data"]
    app    = []
    db     = ["pg-data"]
    nats   = ["nats-data"]
    cache  = ["keydb-data"]
    search = ["typesense-data"]
    ops    = ["prometheus-data", "loki-data", "tempo-data", "grafana-data"]
  }

  server_ips = [for i in range(3) : cidrhost(var.private_cidr, 11 + i)]
}

resource "hcloud_network" "private" {
  name     = "${var.name}-private"
  ip_range = var.private_cidr
  labels   = local.labels
}

resource "hcloud_network_subnet" "cloud" {
  network_id   = hcloud_network.private.id
  type         = "cloud"
  network_zone = "eu-central"
  ip_range     = var.private_cidr
}

resource "hcloud_placement_group" "spread" {
  for_each = toset(["servers", "edge", "app", "db", "nats", "cache", "search"])
  name     = "${var.name}-${each.key}"
  type     = "spread"
  labels   = local.labels
}

resource "random_id" "gossip" {
  byte_length = 32
}

resource "hcloud_server" "nomad" {
  count              = 3
  name               = "${var.name}-nomad-${count.index + 1}"
  image              = "debian-12"
  server_type        = var.server_type_nomad
  location           = var.location
  ssh_keys           = var.ssh_keys
  placement_group_id = hcloud_placement_group.spread["servers"].id
  firewall_ids       = [hcloud_firewall.servers.id]
  labels             = merge(local.labels, { role = "nomad-server" })

  network {
    network_id = hcloud_network.private.id
    ip         = local.server_ips[count.index]
  }

  user_data = templatefile("${path.module}/cloud-init/nomad.yaml.tftpl", {
    nomad_version = var.nomad_version
    datacenter    = var.location
    private_cidr  = var.private_cidr
    server        = true
    role          = "server"
    slot          = ""
    private_ip    = local.server_ips[count.index]
    server_ips    = local.server_ips
    gossip_key    = random_id.gossip.b64_std
    host_volumes  = []
    volume_device = ""
  })

  depends_on = [hcloud_network_subnet.cloud]
}

resource "hcloud_volume" "data" {
  for_each = { for k, c in local.clients : k => c if c.volume }
  name     = "${var.name}-${each.key}"
  size     = var.volume_gb[each.value.role]
  location = var.location
  format   = "ext4"
  labels   = merge(local.labels, { role = each.value.role })
  # Databases and streams are not recreated by a typo in a plan.
  delete_protection = contains(["db", "nats"], each.value.role)
}

resource "hcloud_server" "client" {
  for_each           = local.clients
  name               = "${var.name}-${each.key}"
  image              = "debian-12"
  server_type        = var.server_types[each.value.role]
  location           = var.location
  ssh_keys           = var.ssh_keys
  placement_group_id = lookup(hcloud_placement_group.spread, each.value.role, hcloud_placement_group.spread["app"]).id
  firewall_ids       = [each.value.role == "edge" ? hcloud_firewall.edge.id : hcloud_firewall.private_only.id]
  labels             = merge(local.labels, { role = each.value.role })

  network {
    network_id = hcloud_network.private.id
    ip         = each.value.ip
  }

  user_data = templatefile("${path.module}/cloud-init/nomad.yaml.tftpl", {
    nomad_version = var.nomad_version
    datacenter    = var.location
    private_cidr  = var.private_cidr
    server        = false
    role          = each.value.role
    slot          = each.value.slot
    private_ip    = each.value.ip
    server_ips    = local.server_ips
    gossip_key    = ""
    host_volumes  = local.host_volumes[each.value.role]
    volume_device = each.value.volume ? "/dev/disk/by-id/scsi-0HC_Volume_${hcloud_volume.data[each.key].id}" : ""
  })

  depends_on = [hcloud_network_subnet.cloud, hcloud_server.nomad]
}

resource "hcloud_volume_attachment" "data" {
  for_each  = hcloud_volume.data
  volume_id = each.value.id
  server_id = hcloud_server.client[each.key].id
  automount = false
}
