# Alertmanager: routes Prometheus' alerts (infra/prometheus/gewebe.rules.yml). severity=page goes
# to the on-call pager, severity=ticket to the team channel; every alert carries its runbook link.
#
# Secrets: nomad/jobs/gewebe-alertmanager
#   PAGER_WEBHOOK_URL    the paging provider's webhook (e.g. an incident tool's Alertmanager integration)
#   CHAT_WEBHOOK_URL     the team channel's webhook

variable "image" {
  type        = string
  description = "prom/alertmanager, pinned by digest."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: name@sha256:<64 hex>."
  }
}

variable "datacenters" {
  type    = list(string)
  default = ["fsn1"]
}

job "gewebe-alertmanager" {
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

  group "alertmanager" {
    count = 1

    constraint {
      attribute = "${meta.gewebe_role}"
      value     = "ops"
    }

    network {
      port "http" {
        to = 9093
      }
    }

    restart {
      attempts = 3
      interval = "10m"
      delay    = "20s"
      mode     = "delay"
    }

    reschedule {
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "10m"
      unlimited      = true
    }

    service {
      name     = "gewebe-alertmanager"
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

    task "alertmanager" {
      driver = "docker"

      kill_timeout = "30s"

      config {
        image = var.image
        ports = ["http"]
        args  = ["--config.file=/secrets/alertmanager.yml", "--storage.path=/alloc/data"]
      }

      # Holds the webhook URLs (they are credentials), so it lives under secrets/.
      template {
        destination   = "secrets/alertmanager.yml"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          route:
            receiver: chat
            group_by: [alertname, service]
            group_wait: 30s
            group_interval: 5m
            repeat_interval: 4h
            routes:
              - matchers: [severity="page"]
                receiver: pager
                repeat_interval: 1h
          inhibit_rules:
            # A lost node explains its services' alerts.
            - source_matchers: [alertname="NodeDown"]
              target_matchers: [alertname="ServiceDown"]
              equal: [instance]
          receivers:
          {{- with nomadVar "nomad/jobs/gewebe-alertmanager" }}
            - name: pager
              webhook_configs:
                - url: "{{ .PAGER_WEBHOOK_URL }}"
                  send_resolved: true
            - name: chat
              webhook_configs:
                - url: "{{ .CHAT_WEBHOOK_URL }}"
                  send_resolved: true
          {{- end }}
        EOT
      }

      resources {
        cpu        = 200
        memory     = 128
        memory_max = 256
      }
    }
  }
}
