# Loki: the services push their JSON logs here (LOKI_URL, labelled service); 30 days retention.
# Logs never contain secrets or PII (the services' rule), so the retention needs no forget step.

variable "image" {
  type        = string
  description = "grafana/loki 3.x, pinned by digest."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: name@sha256:<64 hex>."
  }
}

variable "datacenters" {
  type    = list(string)
  default = ["fsn1"]
}

job "gewebe-loki" {
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

  group "loki" {
    count = 1

    constraint {
      attribute = "${meta.gewebe_role}"
      value     = "ops"
    }

    volume "data" {
      type   = "host"
      source = "loki-data"
    }

    network {
      port "http" {
        to = 3100
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
      name     = "gewebe-loki"
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

    task "loki" {
      driver = "docker"

      kill_timeout = "60s"

      volume_mount {
        volume      = "data"
        destination = "/loki"
      }

      config {
        image = var.image
        ports = ["http"]
        args  = ["-config.file=/local/loki.yml"]
      }

      template {
        destination = "local/loki.yml"
        change_mode = "restart"
        data        = <<-EOT
          auth_enabled: false
          server:
            http_listen_port: 3100
          common:
            path_prefix: /loki
            replication_factor: 1
            ring:
              kvstore:
                store: inmemory
          schema_config:
            configs:
              - from: 2026-01-01
                store: tsdb
                object_store: filesystem
                schema: v13
                index:
                  prefix: index_
                  period: 24h
          storage_config:
            filesystem:
              directory: /loki/chunks
          limits_config:
            retention_period: 720h
            ingestion_rate_mb: 16
            ingestion_burst_size_mb: 32
          compactor:
            working_directory: /loki/compactor
            retention_enabled: true
            delete_request_store: filesystem
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
