from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("engine", "0002_networks"),
    ]

    operations = [
        migrations.AddField(
            model_name="node",
            name="stream_address",
            field=models.CharField(blank=True, max_length=300),
        ),
    ]
