from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("engine", "0008_network_ipv6"),
    ]

    operations = [
        migrations.AddField(
            model_name="network",
            name="vni",
            field=models.PositiveIntegerField(blank=True, null=True, unique=True),
        ),
    ]
