# node_exporter on every client: disk, memory, network and filesystem metrics behind the
# DiskAlmostFull / DiskWillFillIn6h / NodeDown alerts.

variable "image" {
  type        = string
  description = "prom/node-exporter, pinned by digest."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: name@sha256:<64 hex>."
  }
}

variable "datacenters" {
  type    = list(string)
  default = ["fsn1"]
}

job "gewebe-node-exporter" {
  datacenters = var.datacenters
  type        = "system"

  update {
    max_parallel = 2
    stagger      = "10s"
  }

  group "node-exporter" {
    network {
      port "metrics" {
        static = 9100
      }
    }

    restart {
      attempts = 10
      interval = "10m"
      delay    = "10s"
      mode     = "delay"
    }

    service {
      name     = "gewebe-node-exporter"
      provider = "nomad"
      port     = "metrics"
      tags     = ["prometheus"]

      check {
        name     = "metrics"
        type     = "http"
        path     = "/metrics"
        interval = "30s"
        timeout  = "5s"
      }
    }

    task "node-exporter" {
      driver = "docker"

      config {
        image        = var.image
        network_mode = "host"
        pid_mode     = "host"
        args         = ["--path.rootfs=/host", "--web.listen-address=${NOMAD_IP_metrics}:9100"]
        volumes      = ["/:/host:ro,rslave"]
      }

      resources {
        cpu        = 100
        memory     = 64
        memory_max = 128
      }
    }
  }
}
