#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Removes the certfleet agent installed by install-agent.ps1.

.DESCRIPTION
    Runs `certfleet-agent.exe uninstall`, which deletes the Scheduled Task
    \certfleet\certfleet-agent and the \certfleet task folder, then deletes the program
    directory (%ProgramFiles%\certfleet). When the executable is already gone, the task and
    its folder are removed through Task Scheduler directly.

    The data directory (%ProgramData%\certfleet: configuration, CA, node key, spooled report,
    run log) is kept unless -RemoveData is given, so that a reinstall keeps the PC's identity at
    the collector. Do not use -RemoveData to replace one version by another: an upgrade is
    install-agent.ps1 with the new exe, in place. To stop the collector accepting this PC,
    revoke it there: `certfleet-collector terminal revoke HOSTNAME`. Safe to run again;
    supports -WhatIf.

.EXAMPLE
    .\uninstall-agent.ps1 -RemoveData
#>
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
param(
    [ValidateNotNullOrEmpty()]
    [string]$InstallDir = (Join-Path -Path $env:ProgramFiles -ChildPath 'certfleet'),

    [ValidateNotNullOrEmpty()]
    [string]$DataDir = (Join-Path -Path $env:ProgramData -ChildPath 'certfleet'),

    [ValidatePattern('^[A-Za-z0-9._\-]+$')]
    [string]$TaskName = 'certfleet-agent',

    # Also delete the configuration, secrets, node key and spool.
    [switch]$RemoveData
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$TaskPath = '\certfleet\'
$exe = Join-Path -Path $InstallDir -ChildPath 'certfleet-agent.exe'

# A running report holds the executable open.
$task = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction SilentlyContinue
if ($task -and $task.State -eq 'Running') {
    if ($PSCmdlet.ShouldProcess("$TaskPath$TaskName", 'Stop the running task')) {
        Stop-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath
    }
}

if (Test-Path -LiteralPath $exe -PathType Leaf) {
    $uninstallArguments = @('--data-dir', $DataDir, '--task-name', $TaskName)
    if ($RemoveData) {
        $uninstallArguments += '--remove-data'
    }
    if ($PSCmdlet.ShouldProcess("task $TaskPath$TaskName", 'certfleet-agent.exe uninstall')) {
        & $exe uninstall @uninstallArguments
        if ($LASTEXITCODE -ne 0) {
            throw "certfleet-agent.exe uninstall failed (exit code $LASTEXITCODE)"
        }
    }
}
else {
    # The program is already gone: remove the task and its folder through Task Scheduler.
    if ($task) {
        if ($PSCmdlet.ShouldProcess("$TaskPath$TaskName", 'Unregister scheduled task')) {
            Unregister-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Confirm:$false
        }
    }
    $scheduler = New-Object -ComObject 'Schedule.Service'
    $scheduler.Connect()
    $folder = $null
    try {
        $folder = $scheduler.GetFolder($TaskPath.TrimEnd('\'))
    }
    catch {
        Write-Verbose "no task folder $TaskPath"
    }
    if ($folder -and $folder.GetTasks(1).Count -eq 0) {
        if ($PSCmdlet.ShouldProcess($TaskPath, 'Delete the empty task folder')) {
            $scheduler.GetFolder('\').DeleteFolder($TaskPath.Trim('\'), 0)
        }
    }
    if ($RemoveData -and (Test-Path -LiteralPath $DataDir -PathType Container)) {
        if ($PSCmdlet.ShouldProcess($DataDir, 'Remove directory')) {
            Remove-Item -LiteralPath $DataDir -Recurse -Force
        }
    }
}

if (Test-Path -LiteralPath $InstallDir -PathType Container) {
    if ($PSCmdlet.ShouldProcess($InstallDir, 'Remove directory')) {
        Remove-Item -LiteralPath $InstallDir -Recurse -Force
    }
}
if (-not $RemoveData -and (Test-Path -LiteralPath $DataDir -PathType Container)) {
    Write-Output "kept $DataDir (use -RemoveData to delete it)"
}
Write-Output 'certfleet agent removed.'
