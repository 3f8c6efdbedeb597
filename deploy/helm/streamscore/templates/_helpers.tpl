{{- define "streamscore.labels" -}}
app.kubernetes.io/name: streamscore
app.kubernetes.io/part-of: streamscore
{{- end -}}
