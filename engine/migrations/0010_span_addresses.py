from django.db import migrations, models


def advertised(apps, schema_editor):
    """Joined nodes tunnel from the host of the stream address they advertised."""
    Node = apps.get_model("engine", "Node")
    for node in Node.objects.filter(joined=True).exclude(stream_address=""):
        host = node.stream_address.removeprefix("tcp://").rsplit(":", 1)[0]
        if ":" not in host.strip("[]"):
            node.tunnel_address = host
            node.save(update_fields=["tunnel_address"])


class Migration(migrations.Migration):
    dependencies = [
        ("engine", "0009_network_vni"),
    ]

    operations = [
        migrations.AddField(
            model_name="node",
            name="tunnel_address",
            field=models.CharField(blank=True, max_length=15),
        ),
        migrations.RunPython(advertised, migrations.RunPython.noop),
        migrations.AddField(
            model_name="network",
            name="span_told",
            field=models.CharField(blank=True, max_length=64),
        ),
    ]
