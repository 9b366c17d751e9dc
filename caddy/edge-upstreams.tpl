{{- /* Rendered by the gewebe-caddy Nomad job into upstreams.caddy: one snippet per routed service
       with its healthy instances from Nomad's catalogue. A service without instances gets the
       discard port, so the route answers 503 problem+json instead of Caddy refusing the config. */ -}}
{{- range $svc := split "," "auth,geo,chat,feed,search" }}
(upstreams_{{ $svc }}) {
{{- $name := printf "gewebe-%s" $svc }}
	to{{ range nomadService $name }} {{ .Address }}:{{ .Port }}{{ else }} 127.0.0.1:9{{ end }}
}
{{- end }}
