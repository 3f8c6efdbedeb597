{{- range . }}
================================================================================
{{ .Name }} {{ .Version }}
License: {{ .LicenseName }}{{ if ne .LicenseURL "Unknown" }} ({{ .LicenseURL }}){{ end }}

{{ .LicenseText }}
{{- end }}
