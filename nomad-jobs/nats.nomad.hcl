# NATS with JetStream: three nodes, one per NATS host, forming one cluster; the event stream is R3
# with file storage (the relay provisions it with NATS_STREAM_REPLICAS=3, see gewebe-relay).
#
# Durability decision (see runbooks/incident-nats.md): sync_interval = always. Jepsen showed that
# with JetStream's default lazy fsync (every 2 minutes) a crash of several nodes loses writes that
# were already acknowledged, because an ack only means "in the page cache of a quorum". With
# `always`, an ack means "fsynced on a quorum (2 of 3)". Our write rate (the relay's events) is far
# below what fsync-per-write costs on NVMe, so we pay it. The second safety net is the outbox: the
# relay keeps published rows RELAY_RETENTION_HOURS (72 h) and `gewebe-relay replay --since <t>`
# republishes whatever the stream lost; the 72 h duplicate window and idempotent consumers make that
# safe. So we rely on: fsync-always R3 for acknowledged events, outbox replay for anything worse
# (a lost stream, a restore).
#
# Secrets: nomad/jobs/gewebe-nats
#   AUTH_CONF   the authorization block: users auth, geo, feed, relay (bcrypt hashes from
#               `nats server passwd`), with their publish/subscribe permissions
#   CLUSTER_PASSWORD   route authentication between the nodes

variable "image" {
  type        = string
  description = "nats:2.11 (or newer) image, pinned by digest."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: name@sha256:<64 hex>."
  }
}

variable "datacenters" {
  type    = list(string)
  default = ["fsn1"]
}

variable "exporter_image" {
  type        = string
  description = "natsio/prometheus-nats-exporter, pinned by digest."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.exporter_image))
    error_message = "exporter_image must be pinned by digest: name@sha256:<64 hex>."
  }
}

variable "peers" {
  type        = list(string)
  description = "Private addresses of the three NATS hosts (terraform output nats_private_ips)."
  validation {
    condition     = length(var.peers) == 3
    error_message = "The JetStream cluster has exactly three nodes (R3 needs all three placed)."
  }
}

job "gewebe-nats" {
  datacenters = var.datacenters
  type        = "service"

  update {
    # One node at a time, and only after the previous one caught up (its healthz waits for
    # JetStream to be current), so the stream keeps a quorum throughout.
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "30s"
    healthy_deadline  = "5m"
    progress_deadline = "15m"
    auto_revert       = true
    stagger           = "60s"
  }

  group "nats" {
    count = 3

    constraint {
      attribute = "${meta.gewebe_role}"
      value     = "nats"
    }

    constraint {
      distinct_hosts = true
    }

    volume "jetstream" {
      type      = "host"
      source    = "nats-data"
      read_only = false
    }

    network {
      port "client" {
        static = 4222
      }
      port "cluster" {
        static = 6222
      }
      port "monitor" {
        static = 8222
      }
      port "exporter" {
        static = 7777
      }
    }

    restart {
      attempts = 3
      interval = "10m"
      delay    = "20s"
      mode     = "delay"
    }

    # Pinned to its volume.
    reschedule {
      attempts  = 0
      unlimited = false
    }

    service {
      name     = "gewebe-nats"
      provider = "nomad"
      port     = "client"

      check {
        name     = "healthz"
        type     = "http"
        port     = "monitor"
        # Plain /healthz is green only once this node's JetStream has caught up with the cluster,
        # so a rolling update never restarts the next node while the last one still recovers.
        path     = "/healthz"
        interval = "10s"
        timeout  = "3s"
      }
    }

    service {
      name     = "gewebe-nats-exporter"
      provider = "nomad"
      port     = "exporter"
      tags     = ["prometheus"]

      check {
        name     = "metrics"
        type     = "http"
        path     = "/metrics"
        interval = "30s"
        timeout  = "5s"
      }
    }

    task "nats" {
      driver = "docker"

      # lame duck mode: clients are moved to the other nodes before this one stops.
      kill_signal  = "SIGUSR2"
      kill_timeout = "60s"

      volume_mount {
        volume      = "jetstream"
        destination = "/data"
      }

      config {
        image        = var.image
        network_mode = "host"
        args         = ["--config", "/secrets/nats.conf"]
      }

      template {
        # Holds the route password, so it lives under secrets/.
        destination   = "secrets/nats.conf"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          server_name: {{ env "node.unique.name" }}
          listen: {{ env "NOMAD_IP_client" }}:4222
          http: {{ env "NOMAD_IP_monitor" }}:8222
          max_payload: 1MB
          lame_duck_duration: 30s
          lame_duck_grace_period: 10s

          jetstream {
            store_dir: /data
            # The stream budget is 100 GiB (NATS_STREAM_MAX_BYTES); the DLQ and headroom need the rest.
            max_file_store: 150GB
            max_memory_store: 1GB
            sync_interval: always
          }

          cluster {
            name: gewebe
            listen: {{ env "NOMAD_IP_cluster" }}:6222
            {{- with nomadVar "nomad/jobs/gewebe-nats" }}
            authorization {
              user: route
              password: "{{ .CLUSTER_PASSWORD }}"
            }
            routes: [
          %{ for ip in var.peers ~}
              "nats-route://route:{{ .CLUSTER_PASSWORD }}@${ip}:6222"
          %{ endfor ~}
            ]
            {{- end }}
          }

          include /secrets/auth.conf
        EOT
      }

      template {
        destination   = "secrets/auth.conf"
        perms         = "0600"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          {{ with nomadVar "nomad/jobs/gewebe-nats" }}{{ .AUTH_CONF }}{{ end }}
        EOT
      }


      resources {
        cpu        = 2000
        memory     = 2048
        memory_max = 4096
      }
    }

    # /varz, /jsz and /routez as Prometheus metrics (stream lag, consumer pending, route health).
    task "exporter" {
      driver = "docker"

      lifecycle {
        hook    = "poststart"
        sidecar = true
      }

      config {
        image        = var.exporter_image
        network_mode = "host"
        args = [
          "-port", "7777", "-addr", "${NOMAD_IP_exporter}",
          "-varz", "-jsz=all", "-routez", "-connz",
          "http://${NOMAD_IP_monitor}:8222",
        ]
      }

      resources {
        cpu        = 100
        memory     = 64
        memory_max = 128
      }
    }
  }
}
