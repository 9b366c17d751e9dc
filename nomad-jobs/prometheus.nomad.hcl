# Prometheus: scrapes every service and supporting system found in Nomad's catalogue and evaluates
# infra/prometheus/gewebe.rules.yml (each alert names its runbook).
#
# Secrets: nomad/jobs/gewebe-prometheus
#   NOMAD_TOKEN   an ACL token with the node:read and namespace read-job policy, for service discovery

variable "image" {
  type        = string
  description = "prom/prometheus, pinned by digest."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: name@sha256:<64 hex>."
  }
}

variable "datacenters" {
  type    = list(string)
  default = ["fsn1"]
}

job "gewebe-prometheus" {
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

  group "prometheus" {
    count = 1

    constraint {
      attribute = "${meta.gewebe_role}"
      value     = "ops"
    }

    volume "data" {
      type   = "host"
      source = "prometheus-data"
    }

    network {
      port "http" {
        to = 9090
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
      name     = "gewebe-prometheus"
      provider = "nomad"
      port     = "http"
      tags     = ["prometheus"]

      check {
        name     = "ready"
        type     = "http"
        path     = "/-/ready"
        interval = "15s"
        timeout  = "3s"
      }
    }

    task "prometheus" {
      driver = "docker"

      kill_timeout = "60s"

      volume_mount {
        volume      = "data"
        destination = "/prometheus"
      }

      config {
        image = var.image
        ports = ["http"]
        args = [
          "--config.file=/secrets/prometheus.yml",
          "--storage.tsdb.path=/prometheus",
          "--storage.tsdb.retention.time=30d",
          "--storage.tsdb.retention.size=80GB",
          "--web.enable-lifecycle",
        ]
      }

      # Scrape targets from Nomad's own catalogue: every gewebe service exposes /metrics at its root,
      # the supporting systems register an extra service tagged "prometheus".
      template {
        destination   = "secrets/prometheus.yml"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          global:
            scrape_interval: 15s
            evaluation_interval: 15s
          rule_files:
            - /local/gewebe.rules.yml
          alerting:
            alertmanagers:
              - static_configs:
                  - targets: [{{ range $i, $s := nomadService "gewebe-alertmanager" }}{{ if $i }}, {{ end }}"{{ $s.Address }}:{{ $s.Port }}"{{ end }}]
          scrape_configs:
            - job_name: gewebe-services
              nomad_sd_configs:
                - server: http://{{ env "attr.unique.network.ip-address" }}:4646
                  {{ with nomadVar "nomad/jobs/gewebe-prometheus" }}authorization:
                    credentials: {{ .NOMAD_TOKEN }}{{ end }}
              relabel_configs:
                - source_labels: [__meta_nomad_service]
                  regex: gewebe-(auth|geo|chat|feed|search|relay)
                  action: keep
                - source_labels: [__meta_nomad_service]
                  regex: gewebe-(.*)
                  target_label: service
            - job_name: gewebe-supporting
              nomad_sd_configs:
                - server: http://{{ env "attr.unique.network.ip-address" }}:4646
                  {{ with nomadVar "nomad/jobs/gewebe-prometheus" }}authorization:
                    credentials: {{ .NOMAD_TOKEN }}{{ end }}
              relabel_configs:
                - source_labels: [__meta_nomad_tags]
                  regex: .*,prometheus,.*
                  action: keep
                - source_labels: [__meta_nomad_service]
                  target_label: job
        EOT
      }

      template {
        destination = "local/gewebe.rules.yml"
        data        = file("infra/prometheus/gewebe.rules.yml")
        # The rules use {{ $labels }} themselves: Nomad must not read them as a template.
        left_delimiter  = "[[["
        right_delimiter = "]]]"
        change_mode     = "signal"
        change_signal   = "SIGHUP"
      }

      resources {
        cpu        = 1000
        memory     = 2048
        memory_max = 4096
      }
    }

  }
}
