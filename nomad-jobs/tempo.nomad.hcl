# Tempo: receives the services' traces over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT points at the
# gewebe-tempo-otlp service) and serves them to Grafana; 7 days retention.

variable "image" {
  type        = string
  description = "grafana/tempo 2.x, pinned by digest."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: name@sha256:<64 hex>."
  }
}

variable "datacenters" {
  type    = list(string)
  default = ["fsn1"]
}

job "gewebe-tempo" {
  datacenters = var.datacenters
  type        = "service"

  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "20s"
    healthy_deadline  = "5m"
    progress_deadline = "15m"
    auto_revert       = true
  }

  group "tempo" {
    count = 1

    constraint {
      attribute = "${meta.gewebe_role}"
      value     = "ops"
    }

    volume "data" {
      type   = "host"
      source = "tempo-data"
    }

    network {
      port "http" {
        to = 3200
      }
      port "otlp" {
        to = 4318
      }
    }

    restart {
      attempts = 3
      interval = "10m"
      delay    = "20s"
      mode     = "delay"
    }

    # Pinned to its volume on the ops node.
    reschedule {
      attempts  = 0
      unlimited = false
    }

    service {
      name     = "gewebe-tempo"
      provider = "nomad"
      port     = "http"
      tags     = ["prometheus"]

      check {
        name     = "ready"
        type     = "http"
        path     = "/ready"
        interval = "15s"
        timeout  = "3s"
      }
    }

    service {
      name     = "gewebe-tempo-otlp"
      provider = "nomad"
      port     = "otlp"

      check {
        name     = "otlp"
        type     = "tcp"
        interval = "15s"
        timeout  = "3s"
      }
    }

    task "tempo" {
      driver = "docker"

      kill_timeout = "60s"

      volume_mount {
        volume      = "data"
        destination = "/var/tempo"
      }

      config {
        image = var.image
        ports = ["http", "otlp"]
        args  = ["-config.file=/local/tempo.yml"]
      }

      template {
        destination = "local/tempo.yml"
        change_mode = "restart"
        data        = <<-EOT
          server:
            http_listen_port: 3200
          distributor:
            receivers:
              otlp:
                protocols:
                  http:
                    endpoint: 0.0.0.0:4318
          ingester:
            max_block_duration: 5m
          compactor:
            compaction:
              block_retention: 168h
          storage:
            trace:
              backend: local
              local:
                path: /var/tempo/blocks
              wal:
                path: /var/tempo/wal
        EOT
      }

      resources {
        cpu        = 1000
        memory     = 1024
        memory_max = 2048
      }
    }

  }
}
